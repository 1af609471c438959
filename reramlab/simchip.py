"""The simulated chip, kept with its log.

A simulated bench's chip would otherwise live only as long as its process. After a run on a
simulated bench the runner writes the chip's whole state, its clock included, next to the log
as ``<log>.simchip.npz`` (`chip_state_path`, `save_chip_after_run`), and a later run into the
same log restores it before the first command (`restore_chip`): the chip is where the log's
history left it. The saved chip is tied to its log by the log's creation time; one that is
another chip or belongs to another log of that name is refused, naming what differs.

Kept apart from the runner because only simulated benches need it: the simulator is imported
when a chip is restored, never for a real bench.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from reramlab import __version__
from reramlab.errors import LogFileError

#: what chip_state_path appends to the log's file name
CHIP_STATE_SUFFIX = ".simchip.npz"


def chip_state_path(log: str | Path) -> Path:
    """Where the simulated chip measured into `log` is kept: ``run.h5`` -> ``run.h5.simchip.npz``
    (the whole log name, so ``run.h5`` and ``run.hdf5`` never share one)."""
    log = Path(log)
    return log.with_name(log.name + CHIP_STATE_SUFFIX)


def restore_chip(simulator: Any, log: str | Path) -> bool:
    """Put the chip of `simulator` (a ReramSimLibrary) in the state saved with `log`; True if
    there was one. Nothing is restored without a saved chip, or when `log` itself is gone (the
    saved chip is then stale: the run starts on a fresh chip and replaces it). Raises
    LogFileError, the chip untouched, if the saved chip is unreadable, belongs to another log
    of that name, or is not this station's chip (preset, overrides, rows, cols, seed)."""
    log = Path(log)
    sidecar = chip_state_path(log)
    if not sidecar.exists() or not log.exists():
        return False
    fresh = f"delete {sidecar.name} to continue {log.name} on a fresh chip"
    from reramlab.sim_backend.array_model import ChipStateError  # simulated benches only
    from reramlab.sim_backend.library import read_chip_state

    try:
        header, state = read_chip_state(sidecar)
    except ValueError as e:
        raise LogFileError(
            f"{sidecar}: cannot restore the simulated chip of {log}: {e}; {fresh}"
        ) from None
    created = _log_created(log)
    if created is None:
        raise LogFileError(
            f"{log}: cannot read the log's creation time, which ties {sidecar.name} to it; "
            f"repair or move the log, or {fresh}"
        )
    if header.get("log_created") != created:
        raise LogFileError(
            f"{sidecar}: this simulated chip was saved with another log ({header.get('log')}, "
            f"created {header.get('log_created')}; {log} was created {created}); choose another "
            f"--out, or {fresh}"
        )
    try:
        simulator.restore_chip(state)
    except ChipStateError as e:
        raise LogFileError(
            f"{sidecar}: the simulated chip saved with {log} is not this station's chip: "
            f"{'; '.join(e.differences)}. Run the station it was measured with, choose another "
            f"--out, or {fresh}"
        ) from None
    return True


def save_chip(simulator: Any, log: str | Path, **header: Any) -> Path:
    """Write the chip state of `simulator` next to `log` (chip_state_path), atomically, tied to
    the log by its creation time; `header` adds JSON entries. Returns the file written."""
    log = Path(log)
    sidecar = chip_state_path(log)
    simulator.save_chip(sidecar, {
        "log": log.name, "log_created": _log_created(log),
        "saved": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
        "reramlab_version": __version__, **header,
    })  # fmt: skip
    return sidecar


def save_chip_after_run(simulator: Any, log: Path, run_id: str, status: str) -> str:
    """save_chip after a run; on failure the stale file is removed and the problem returned."""
    try:
        save_chip(simulator, log, run=run_id, run_status=status)
        return ""
    except Exception as e:  # noqa: BLE001 - the run is logged; say what was not saved
        sidecar = chip_state_path(log)
        try:
            sidecar.unlink(missing_ok=True)
            gone = "the next run on it starts from a fresh chip"
        except OSError:
            gone = f"{sidecar.name} still holds the chip as it was before this run"
        return (
            f"{sidecar}: cannot save the simulated chip ({type(e).__name__}: {e}); run {run_id} "
            f"is logged in {log}, but {gone}"
        )


def _log_created(log: Path) -> str | None:
    """The ``created`` attribute of a reramlab log (None if unreadable). Read through
    `open_log`, which also reads a log a killed writer left marked open."""
    from reramlab.analysis.load import open_log  # analysis sits above the runner

    try:
        with open_log(log) as opened:
            created = opened.info.get("created")
    except (OSError, ValueError, LogFileError):
        return None
    return None if created is None else str(created)
