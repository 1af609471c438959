"""How a protocol is executed: station, limits check, HDF5 log, progress, safe state, Ctrl-C.

``execute()`` is the one place that turns a protocol (what to do) into a run on a bench. It
checks the parameters against the station limits before the first command, writes the log as
it goes, and on every exit path (success, error, Ctrl-C/SIGTERM) brings every output to 0 V and
off and opens every switch, then marks the run completed, failed or aborted.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reramlab.bench import Bench
from reramlab.log import LogFile
from reramlab.protocols.base import Progress, get_protocol, make_params, parse_cells
from reramlab.stations.connect import ConnectedStation, connect
from reramlab.stations.loader import Station, load_station


class Aborted(Exception):
    """The run was interrupted by the user (SIGINT/SIGTERM)."""


@dataclass
class RunResult:
    log_path: Path
    run_id: str
    status: str
    error: str
    bench_time_s: float


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C, so a killed-by-scheduler run still makes the bench safe."""
    try:
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def open_bench(
    station: str | Path | Station, *, sim: bool = False, sim_dir: Path | None = None
) -> tuple[Station, ConnectedStation, Bench]:
    st = station if isinstance(station, Station) else load_station(station)
    connected = connect(st, sim=sim, sim_dir=sim_dir)
    return st, connected, Bench(connected)


def execute(
    protocol: str,
    *,
    out: str | Path,
    station: str | Path | Station = "sim",
    cells: str = "all",
    settings: dict[str, str] | None = None,
    params: Any | None = None,
    resume: bool = False,
    sim: bool = False,
    bench: Bench | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> RunResult:
    """Run `protocol` on `cells` and log it to `out`. Pass `bench` to reuse an open bench."""
    module = get_protocol(protocol)
    params = params if params is not None else make_params(module, settings)
    if bench is None:
        st, connected, bench = open_bench(station, sim=sim)
    else:
        connected = bench.station
        st = connected.station
    chosen = parse_cells(cells, bench.rows, bench.cols)
    module.check(params, bench)  # before the first command that could bias the chip
    log = LogFile(
        out,
        station_name=st.name,
        station_yaml=st.text,
        instruments=connected.identities(),
        chip_name=st.spec.chip.name,
        chip_shape=(bench.rows, bench.cols),
    )
    run = (log.resumable_run(module.NAME) if resume else None) or log.new_run(
        module.NAME, asdict(params), cells, bench.now_s()
    )
    status, error = "completed", ""
    try:
        with _terminate_as_interrupt():
            for progress in module.run(bench, chosen, params, run):
                if on_progress:
                    on_progress(progress)
    except KeyboardInterrupt:
        status, error = "aborted", "interrupted by the user (SIGINT/SIGTERM)"
        raise
    except Exception as e:
        status, error = "failed", f"{type(e).__name__}: {e}"
        raise
    finally:
        problems = bench.safe()
        if problems:
            error = (
                (error + "; " if error else "") + "safe state incomplete: " + "; ".join(problems)
            )
            status = "failed" if status == "completed" else status
        run.finish(status, bench.now_s(), error)
        result = RunResult(Path(out), run.id, status, error, bench.now_s())
        log.close()
    return result
