"""How a protocol is executed: station, limits check, HDF5 log, progress, safe state, Ctrl-C.

``execute()`` is the one place that turns a protocol (what to do) into a run on a bench. It
checks the parameters against the station limits before the first command, writes the log as
it goes, and on every exit path (success, error, Ctrl-C/SIGTERM/SIGHUP) brings every output to
0 V and off and opens every switch, then marks the run completed, failed or aborted.

Signals: while a run goes on, SIGINT, SIGTERM and SIGHUP raise ``KeyboardInterrupt`` (the
current operation ends there), except inside a log flush, where they are held until the flush
is complete (a table is never left half appended). While the bench is made safe and the run is
finished in the log, further signals are held and dropped: a second Ctrl-C cannot leave an
output on. SIGKILL cannot be caught: the log then keeps everything flushed before it, with the
run marked ``running``, and ``--resume`` continues it.

The simulated chip is kept with the log: a simulated bench's chip would otherwise live only as
long as its process. After a run on a simulated bench (completed, failed, aborted or
interrupted; after the bench is made safe, with stop signals held) the chip's whole state, its
clock included, is written next to the log as ``<log>.simchip.npz`` (``chip_state_path``), and a
later run into the same log restores it before the first command: the chip is where the log's
history left it. A saved chip that is another chip (preset, overrides, rows, cols, seed) or
belongs to another log of that name is refused before anything is sent, naming what differs
(a fresh chip would contradict the log's history); one whose log was deleted is ignored and
replaced. Real benches never write one. After a SIGKILL the saved chip is the one from before
the killed run.

Resume: the newest unfinished run of the protocol in the log continues with the same
parameters and cells (a different ``--set`` or ``--cells`` is refused, naming the difference);
what is done is decided by the log alone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reramlab.bench import Bench
from reramlab.errors import (
    CellSelectionError,
    LogFileError,
    ParameterError,
    ReramlabError,
    SafeStateError,
    StationError,
)
from reramlab.log import LogFile, Run
from reramlab.protocols.base import Progress, get_protocol, make_params, parse_cells
from reramlab.simchip import restore_chip, save_chip_after_run
from reramlab.stations.connect import ConnectedStation, connect
from reramlab.stations.loader import Station, load_station

try:  # POSIX advisory locks: one writer per log file
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: signals that end a run the way Ctrl-C does (SIGHUP: the terminal of an overnight run closed)
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Aborted(Exception):
    """The run was interrupted by the user (SIGINT/SIGTERM)."""


@dataclass
class RunResult:
    log_path: Path
    run_id: str
    status: str
    error: str
    bench_time_s: float


class _Signals:
    """Stop signals raise KeyboardInterrupt, or are held inside `held()` blocks."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending: int | None = None
        self.drop = False

    def handler(self, signum: int, frame: object) -> None:
        if self.depth > 0:
            self.pending = signum
            return
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    @contextlib.contextmanager
    def held(self, *, drop: bool = False) -> Iterator[None]:
        """Hold stop signals inside the block; re-raise one at its end unless `drop`."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            if self.depth == 0 and self.pending is not None:
                signum, self.pending = self.pending, None
                if not drop:
                    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def _stop_signals(signals: _Signals) -> Iterator[None]:
    """Install `signals.handler` for SIGINT/SIGTERM/SIGHUP (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for sig in STOP_SIGNALS:
        with contextlib.suppress(ValueError, OSError):  # not settable here: left as it is
            previous[sig] = signal.signal(sig, signals.handler)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C (kept for callers of the earlier API)."""
    with _stop_signals(_Signals()):
        yield


def open_bench(
    station: str | Path | Station,
    *,
    sim: bool = False,
    sim_dir: Path | None = None,
    chip_of: str | Path | None = None,
) -> tuple[Station, ConnectedStation, Bench]:
    """Load and connect a station. On a simulated bench, `chip_of` (a log path) restores the
    chip saved with that log, if any, before any instrument is opened (restore_chip)."""
    st = station if isinstance(station, Station) else _load(station)
    hook = None if chip_of is None else (lambda simulator: restore_chip(simulator, chip_of))
    try:
        connected = connect(st, sim=sim, sim_dir=sim_dir, on_simulator=hook)
    except StationError as e:
        if str(st.path) in str(e):
            raise
        raise StationError(f"{st.path}: {e}") from None
    except ValueError as e:  # a simulated bench that cannot be built from this station
        raise StationError(f"{st.path}: {e}") from None
    return st, connected, Bench(connected)


def _load(station: str | Path) -> Station:
    try:
        return load_station(station)
    except (OSError, UnicodeDecodeError) as e:
        raise StationError(f"{station}: cannot read the station file ({e})") from None
    except (TypeError, AttributeError) as e:  # a value of a type the loader did not expect
        raise StationError(f"{station}: malformed station file ({type(e).__name__}: {e})") from None


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
    keep_chip: bool | None = None,
) -> RunResult:
    """Run `protocol` on `cells` and log it to `out`. Pass `bench` to reuse an open bench.
    Parameters: `params`, or the station's `protocol_defaults` overridden by `settings`.

    `keep_chip` (default: True when this call opens the bench, False with a `bench`): on a
    simulated bench, restore the chip saved with `out` before the run and save it after."""
    module = get_protocol(protocol)
    if bench is not None:
        station = bench.station.station
    elif not isinstance(station, Station):
        station = _load(station)
    if params is None:  # the station's defaults for this protocol, then --set
        params = make_params(module, {**station.protocol_defaults(module.NAME), **(settings or {})})
    out = Path(out)
    _check_log_path(out)
    opened = bench is None
    keep = opened if keep_chip is None else keep_chip
    if bench is None:
        st, connected, bench = open_bench(station, sim=sim, chip_of=out if keep else None)
    else:
        connected = bench.station
        st = connected.station
        if keep and connected.simulator is not None:
            restore_chip(connected.simulator, out)
    try:
        return _execute(module, params, out, st, connected, bench, cells, resume, on_progress,
                        keep and connected.simulator is not None)  # fmt: skip
    finally:
        if opened:
            connected.close()


def _execute(module, params, out: Path, st: Station, connected: ConnectedStation, bench: Bench,
             cells: str, resume: bool, on_progress,
             keep_chip: bool = False) -> RunResult:  # fmt: skip
    try:
        chosen = parse_cells(cells, bench.rows, bench.cols)
    except ValueError as e:  # e.g. a zero slice step
        raise CellSelectionError(f"--cells {cells!r}: {e}") from None
    module.check(params, bench)  # before the first command that could bias the chip
    fd = _lock(out) if out.exists() else None
    try:
        log = _open_log(out, st, connected, bench)
        try:
            if fd is None:  # a new log: locked as soon as it exists
                fd = _lock(out)
            run = _start_run(log, module, params, cells, resume, bench)
        except BaseException:
            log.close()
            raise

        def save_chip_after(run_id: str, status: str) -> str:
            return save_chip_after_run(connected.simulator, out, run_id, status)

        return _run(module, params, chosen, bench, log, run, on_progress,
                    save_chip_after if keep_chip else None)  # fmt: skip
    finally:
        if fd is not None:
            os.close(fd)


def _run(module, params, chosen, bench: Bench, log: LogFile, run: Run, on_progress,
         save_chip_after: Callable[[str, str], str] | None = None) -> RunResult:  # fmt: skip
    signals = _Signals()
    run_id = run.id
    notes_from = len(bench.io_notes)
    bench.io_notes.extend(bench.station.take_notes())  # retries while opening: the first run's
    flush = run.flush

    def held_flush() -> None:  # a signal never leaves a table half appended
        with signals.held():
            flush()

    run.flush = held_flush  # type: ignore[method-assign]
    status, error, raising = "completed", "", False
    try:
        with _stop_signals(signals):
            try:
                for progress in module.run(bench, chosen, params, run):
                    if on_progress:
                        on_progress(progress)
            except KeyboardInterrupt as e:
                status, error, raising = (
                    "aborted",
                    f"interrupted by the user ({e or 'SIGINT'})",
                    True,
                )
                raise
            except Exception as e:
                status, error, raising = "failed", f"{type(e).__name__}: {e}", True
                raise
            finally:
                chip_error = ""
                with signals.held(drop=True):  # a second Ctrl-C cannot stop the clean-up
                    try:
                        status, error, problems = _finish(bench, log, run, status, error,
                                                          notes_from, flush)  # fmt: skip
                    finally:  # the chip as the run left it, the bench safe
                        if save_chip_after is not None:
                            chip_error = save_chip_after(run_id, status)
                if problems and raising:  # say so louder than the interruption or the error
                    raise SafeStateError(
                        f"the bench could not be made safe: {'; '.join(problems)} (run {run_id} in "
                        f"{log.path} marked {status}: {error})"
                    )
                if chip_error and not raising:
                    raise LogFileError(chip_error)
    finally:
        run.flush = flush  # type: ignore[method-assign]
    return RunResult(log.path, run_id, status, error, bench.now_s())


def _finish(bench: Bench, log: LogFile, run: Run, status: str, error: str, notes_from: int,
            flush: Callable[[], None]) -> tuple[str, str, list[str]]:  # fmt: skip
    """Safe state, then the run's status, error and bus notes in the log; the log closed.
    Returns the status, the error text and what could not be made safe."""
    problems: list[str] = []
    try:
        problems = bench.safe()
        if problems:
            error = (
                (error + "; " if error else "") + "safe state incomplete: " + "; ".join(problems)
            )
            status = "failed" if status == "completed" else status
        notes = bench.io_notes[notes_from:]
        if notes:
            old = json.loads(run.group.attrs.get("io_notes", "[]") or "[]")
            run.group.attrs["io_notes"] = json.dumps(old + notes)
        run.flush = flush  # type: ignore[method-assign]
        run.finish(status, bench.now_s(), error)
    finally:
        log.close()
    return status, error, problems


def _start_run(log: LogFile, module, params, cells: str, resume: bool, bench: Bench) -> Run:
    parameters = asdict(params)
    if resume:
        run = log.resumable_run(module.NAME)
        if run is not None:
            _check_resume(log, run, parameters, cells)
            a = run.group.attrs
            resumed = json.loads(a.get("resumed", "[]") or "[]")
            resumed.append({"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
                            "previous_status": str(a["status"]), "previous_error": str(a["error"])})  # fmt: skip
            a["resumed"] = json.dumps(resumed)
            a["status"] = "running"
            a["error"] = ""
            log.f.flush()
            return run
    return log.new_run(module.NAME, parameters, cells, bench.now_s())


def _check_resume(log: LogFile, run: Run, parameters: dict[str, Any], cells: str) -> None:
    logged = run.parameters
    now = json.loads(json.dumps(parameters, default=float))
    differ = [k for k in sorted(set(logged) | set(now)) if logged.get(k) != now.get(k)]
    where = f"{log.path}: --resume of run {run.id}"
    if differ:
        listed = ", ".join(f"{k} = {logged.get(k)!r} (now {now.get(k)!r})" for k in differ)
        raise ParameterError(
            f"{where}: it was started with {listed}; resume with the same --set values, or start "
            "a new run without --resume"
        )
    logged_cells = str(run.group.attrs.get("cells", ""))
    if logged_cells.replace(" ", "") != cells.replace(" ", ""):
        raise CellSelectionError(
            f"{where}: it was started with --cells {logged_cells!r}, not {cells!r}; resume with "
            "the same cells"
        )


def _check_log_path(out: Path) -> None:
    """Refuse, before anything is sent, a log path that cannot be ours to write."""
    if out.is_dir():
        raise LogFileError(f"{out}: is a folder; --out takes a file name (e.g. {out / 'run.h5'})")
    if out.exists() and not (out.stat().st_mode & 0o222):
        raise LogFileError(f"{out}: log file is read-only; choose another --out")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise LogFileError(f"{out}: {parent} is not a folder")


def _open_log(out: Path, st: Station, connected: ConnectedStation, bench: Bench) -> LogFile:
    try:
        return LogFile(
            out,
            station_name=st.name,
            station_yaml=st.text,
            instruments=connected.identities(),
            chip_name=st.spec.chip.name,
            chip_shape=(bench.rows, bench.cols),
        )
    except ReramlabError:
        raise
    except OSError as e:
        raise LogFileError(f"{out}: cannot write the log ({e})") from None


def _lock(out: Path) -> int | None:
    """One process writes a log at a time: an advisory lock on the file, released by the system
    when the process ends, however it ends (SIGKILL included). Returns the locked descriptor."""
    if fcntl is None:  # pragma: no cover - Windows
        return None
    try:
        fd = os.open(out, os.O_RDONLY)
    except OSError as e:
        raise LogFileError(f"{out}: cannot open the log ({e.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise LogFileError(
            f"{out}: another reramlab process is writing this log; wait for it to end or choose "
            "another --out"
        ) from None
    return fd
