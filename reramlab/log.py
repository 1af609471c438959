"""The HDF5 measurement log (DESIGN section 6), written as the run goes.

Layout (plain h5py/HDFView readable):

- root attrs: ``format`` = "reramlab-log", ``format_version``, ``reramlab_version``,
  ``station_name``, ``station_yaml``, ``instruments`` (JSON of identities), ``chip_name``,
  ``chip_shape``;
- ``/cells/rRRcCC/timeseries``: append-only table of every operation on that cell
  (``TIMESERIES_DTYPE``), the cell's whole history across runs;
- ``/runs/NNNN_<protocol>/``: attrs ``protocol``, ``parameters`` (JSON), ``cells``, ``status``
  (running|completed|aborted|failed), ``error``, ``started``, ``ended`` (ISO 8601 wall time),
  ``t_start_s``/``t_end_s`` (bench clock), and the protocol's own tables (compound datasets,
  one row appended per cell or step).

Everything is flushed after every step, so a killed run leaves a readable file with its run
marked ``running`` and every completed step intact.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from reramlab import __version__
from reramlab.errors import LogFileError

FORMAT = "reramlab-log"
FORMAT_VERSION = 1
STATUSES = ("running", "completed", "aborted", "failed")

TIMESERIES_DTYPE = np.dtype(
    [
        ("t_s", "f8"),  # bench clock at the end of the operation
        ("op", "S16"),  # read | form_step | set_pulse | reset_pulse | sweep | ...
        ("v", "f8"),  # applied voltage (BL - SL for the cell), V
        ("width_s", "f8"),  # pulse width or dwell, s
        ("vg", "f8"),  # gate voltage, V
        ("i_a", "f8"),  # measured current, A (NaN if none)
        ("g_s", "f8"),  # conductance, S (NaN if none)
        ("n", "i8"),  # number of identical operations this row stands for (bursts)
        ("run", "i4"),  # run number
    ]
)


def cell_key(row: int, col: int) -> str:
    return f"r{row:02d}c{col:02d}"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _append(group: h5py.Group, name: str, rows: np.ndarray) -> None:
    if name not in group:
        group.create_dataset(name, data=rows, maxshape=(None,), chunks=(max(64, len(rows)),))
        return
    ds = group[name]
    n = ds.shape[0]
    ds.resize((n + len(rows),))
    ds[n:] = rows


class LogFile:
    """One session file. Open an existing log to add runs to it, or create a new one."""

    def __init__(
        self,
        path: str | Path,
        *,
        station_name: str = "",
        station_yaml: str = "",
        instruments: Mapping[str, str] | None = None,
        chip_name: str = "",
        chip_shape: tuple[int, int] = (0, 0),
    ) -> None:
        self.path = Path(path)
        if self.path.exists():
            if not os.access(self.path, os.W_OK):
                raise LogFileError(f"{self.path}: log file is read-only; choose another --out")
            try:
                self.f = h5py.File(self.path, "r+", locking=False)
            except OSError as e:
                raise LogFileError(f"{self.path}: not an HDF5 file ({e})") from None
            if self.f.attrs.get("format") != FORMAT:
                self.f.close()
                raise LogFileError(f"{self.path}: an HDF5 file, but not a reramlab log")
        else:
            if self.path.parent and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.f = h5py.File(self.path, "w", libver="v108", locking=False)
            a = self.f.attrs
            a["format"] = FORMAT
            a["format_version"] = FORMAT_VERSION
            a["reramlab_version"] = __version__
            a["station_name"] = station_name
            a["station_yaml"] = station_yaml
            a["instruments"] = json.dumps(dict(instruments or {}))
            a["chip_name"] = chip_name
            a["chip_shape"] = np.asarray(chip_shape, dtype=np.int64)
            a["created"] = _now()
            self.f.create_group("cells")
            self.f.create_group("runs")
            self.f.flush()

    def new_run(self, protocol: str, parameters: Mapping[str, Any], cells: str, t_s: float) -> Run:
        number = len(self.f["runs"]) + 1
        group = self.f["runs"].create_group(f"{number:04d}_{protocol}")
        a = group.attrs
        a["protocol"] = protocol
        a["parameters"] = json.dumps(dict(parameters), default=float)
        a["cells"] = cells
        a["status"] = "running"
        a["error"] = ""
        a["started"] = _now()
        a["ended"] = ""
        a["t_start_s"] = t_s
        a["t_end_s"] = math.nan
        self.f.flush()
        return Run(self, group, number)

    def resumable_run(self, protocol: str) -> Run | None:
        """The newest run of `protocol` that did not complete (for --resume), if any."""
        for name in sorted(self.f["runs"], reverse=True):
            group = self.f["runs"][name]
            if group.attrs["protocol"] == protocol:
                if group.attrs["status"] != "completed":
                    return Run(self, group, int(name.split("_", 1)[0]))
                return None
        return None

    def close(self) -> None:
        if self.f.id.valid:
            self.f.flush()
            self.f.close()

    def __enter__(self) -> LogFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Run:
    """Writer for one run: per-cell operations and the protocol's own tables."""

    def __init__(self, log: LogFile, group: h5py.Group, number: int) -> None:
        self.log = log
        self.group = group
        self.number = number
        self._ops: dict[str, list[tuple]] = {}
        self._rows: dict[str, list[dict[str, Any]]] = {}

    @property
    def id(self) -> str:
        return self.group.name.rsplit("/", 1)[-1]

    @property
    def parameters(self) -> dict[str, Any]:
        return json.loads(self.group.attrs["parameters"])

    def op(
        self,
        cell: tuple[int, int],
        op: str,
        *,
        t_s: float,
        v: float = math.nan,
        width_s: float = math.nan,
        vg: float = math.nan,
        i_a: float = math.nan,
        g_s: float = math.nan,
        n: int = 1,
    ) -> None:
        """Queue one operation on `cell`; written at the next `flush()`."""
        self._ops.setdefault(cell_key(*cell), []).append(
            (t_s, op.encode(), v, width_s, vg, i_a, g_s, n, self.number)
        )

    def ops(self, cell: tuple[int, int], rows: Iterable[tuple]) -> None:
        """Queue many operations at once: tuples (t_s, op, v, width_s, vg, i_a, g_s, n)."""
        buf = self._ops.setdefault(cell_key(*cell), [])
        buf.extend((*r[:1], r[1].encode(), *r[2:8], self.number) for r in rows)

    def row(self, table: str, **fields: Any) -> None:
        """Queue one row of the run's table `table` (columns fixed by its first row)."""
        self._rows.setdefault(table, []).append(fields)

    def flush(self) -> None:
        """Write everything queued and flush the file: the end of a step."""
        cells = self.log.f["cells"]
        for key, ops in self._ops.items():
            group = cells.require_group(key)
            _append(group, "timeseries", np.array(ops, dtype=TIMESERIES_DTYPE))
        for table, rows in self._rows.items():
            _append(self.group, table, _records(rows, self.group.get(table)))
        self._ops.clear()
        self._rows.clear()
        self.log.f.flush()

    def table(self, name: str) -> np.ndarray:
        return self.group[name][()] if name in self.group else np.zeros(0)

    def finish(self, status: str, t_s: float, error: str = "") -> None:
        if status not in STATUSES:
            raise ValueError(f"status {status!r} not in {STATUSES}")
        self.flush()
        a = self.group.attrs
        a["status"] = status
        a["error"] = error
        a["ended"] = _now()
        a["t_end_s"] = t_s
        self.log.f.flush()


def _records(rows: list[dict[str, Any]], existing: h5py.Dataset | None) -> np.ndarray:
    if existing is not None:
        dtype = existing.dtype
    else:
        fields = []
        for k, v in rows[0].items():
            if isinstance(v, bool | np.bool_):
                fields.append((k, "?"))
            elif isinstance(v, int | np.integer):
                fields.append((k, "i8"))
            elif isinstance(v, str):
                fields.append((k, "S32"))
            else:
                fields.append((k, "f8"))
        dtype = np.dtype(fields)
    out = np.zeros(len(rows), dtype=dtype)
    for i, r in enumerate(rows):
        for k in dtype.names:
            v = r.get(k, math.nan if dtype[k].kind == "f" else 0)
            out[i][k] = v.encode() if isinstance(v, str) else v
    return out
