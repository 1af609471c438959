"""Reading reramlab logs into pandas: runs, run tables, per-cell operation timeseries.

Whole datasets are read at once into one preallocated array and split into columns with numpy,
never row by row, so a large log loads at close to plain h5py speed. Logs of aborted runs, of
runs killed mid-step and of runs still being written by another process all open: everything
flushed so far is there.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from reramlab.errors import LogFileError
from reramlab.log import FORMAT, FORMAT_VERSION, TIMESERIES_DTYPE

TIMESERIES_COLUMNS = ["row", "col", "t_s", "op", "v", "width_s", "vg", "i_a", "g_s", "n", "run"]
RUNS_COLUMNS = ["id", "number", "protocol", "status", "start", "end", "parameters", "cells",
                "error", "t_start_s", "t_end_s", "bench_time_s"]  # fmt: skip
_CELL_KEY = re.compile(r"r(\d+)c(\d+)")

Cells = Iterable[tuple[int, int]] | None


class Log:
    """A read-only view of one log file (DESIGN section 6)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._raw: _ClearedFlagsFile | None = None
        self.f = self._open()
        fmt = self.f.attrs.get("format")
        version = int(self.f.attrs.get("format_version", 0))
        if fmt != FORMAT or "runs" not in self.f or "cells" not in self.f:
            self.close()
            raise LogFileError(f"{self.path}: an HDF5 file, but not a reramlab log "
                               f"(root attribute format = {fmt!r}, expected {FORMAT!r})")  # fmt: skip
        if version > FORMAT_VERSION:
            self.close()
            raise LogFileError(f"{self.path}: log format version {version} is newer than this "
                               f"reramlab reads ({FORMAT_VERSION}); upgrade reramlab")  # fmt: skip

    def _open(self) -> h5py.File:
        if not self.path.is_file():
            raise LogFileError(f"{self.path}: cannot open: no such file")
        try:
            return h5py.File(self.path, "r", locking=False)
        except OSError as e:
            if "already open for write" not in str(e):
                raise LogFileError(f"{self.path}: cannot open as HDF5 ({e})") from None
        # A writer still has it open, or was killed: read it with the "open" flags cleared.
        self._raw = _ClearedFlagsFile(self.path)
        try:
            return h5py.File(self._raw, "r")
        except OSError as e:
            self._raw.close()
            raise LogFileError(f"{self.path}: cannot open as HDF5 ({e})") from None

    @property
    def info(self) -> dict[str, Any]:
        """Root attributes: station, chip, instruments, versions (JSON decoded)."""
        out = {
            k: (v.tolist() if isinstance(v, np.ndarray | np.generic) else v)
            for k, v in self.f.attrs.items()
        }
        if isinstance(out.get("instruments"), str):
            out["instruments"] = json.loads(out["instruments"] or "{}")
        return out

    @property
    def runs(self) -> pd.DataFrame:
        """One row per run: id, number, protocol, status, start, end (UTC), parameters (dict), ..."""
        rows = []
        for name, g in self.f["runs"].items():
            a = g.attrs
            t0, t1 = float(a.get("t_start_s", np.nan)), float(a.get("t_end_s", np.nan))
            rows.append({"id": name, "number": int(name.split("_", 1)[0]),
                         "protocol": a["protocol"], "status": a["status"],
                         "start": a.get("started", ""), "end": a.get("ended", ""),
                         "parameters": json.loads(a.get("parameters", "{}")),
                         "cells": a.get("cells", ""), "error": a.get("error", ""),
                         "t_start_s": t0, "t_end_s": t1, "bench_time_s": t1 - t0})  # fmt: skip
        df = pd.DataFrame(rows, columns=RUNS_COLUMNS)
        for col in ("start", "end"):
            df[col] = pd.to_datetime(df[col].replace("", None), utc=True, format="ISO8601")
        return df

    def run_id(self, run: str | int) -> str:
        """The id ("0003_forming") of a run given by id or number."""
        names = list(self.f["runs"])
        if isinstance(run, int | np.integer):
            found = [n for n in names if int(n.split("_", 1)[0]) == run]
            if found:
                return found[0]
        elif run in names:
            return run
        raise LogFileError(f"{self.path}: no run {run!r}; runs: {names}")

    def parameters(self, run: str | int) -> dict[str, Any]:
        return json.loads(self.f["runs"][self.run_id(run)].attrs.get("parameters", "{}"))

    def run(self, run: str | int) -> dict[str, pd.DataFrame]:
        """A run's own tables as DataFrames, by table name (byte strings decoded)."""
        g = self.f["runs"][self.run_id(run)]
        return {
            name: records_frame(ds[()]) for name, ds in g.items() if isinstance(ds, h5py.Dataset)
        }

    @property
    def cells(self) -> list[tuple[int, int]]:
        """Cells with a timeseries, as (row, col)."""
        return [cell for cell, _ in self._cell_datasets(None)]

    def timeseries(self, cells: Cells = None, run: str | int | None = None) -> pd.DataFrame:
        """Every operation on `cells` (all if None), optionally of one run: one row per operation.

        Columns: row, col, t_s, op (categorical), v, width_s, vg, i_a, g_s, n, run.
        """
        found = self._cell_datasets(cells)
        lengths = [ds.shape[0] for _, ds in found]
        number = None if run is None else int(self.run_id(run).split("_", 1)[0])
        total = sum(lengths)
        columns = {name: np.empty(total, TIMESERIES_DTYPE[name] if name in TIMESERIES_DTYPE.names
                                  else np.int32) for name in TIMESERIES_COLUMNS if name != "op"}  # fmt: skip
        op = np.empty((TIMESERIES_DTYPE["op"].itemsize // 8, total), np.uint64)  # words of op
        buffer = np.empty(max(lengths, default=0), TIMESERIES_DTYPE)  # one cell at a time
        end = 0
        for ((row, col), ds), n in zip(found, lengths, strict=True):
            if not n:
                continue
            part = buffer[:n]
            ds.id.read(h5py.h5s.ALL, h5py.h5s.ALL, part)  # whole dataset, no selection
            if number is not None:
                part = part[part["run"] == number]
            start, end = end, end + len(part)
            columns["row"][start:end] = row
            columns["col"][start:end] = col
            for name in TIMESERIES_DTYPE.names:
                if name != "op":
                    columns[name][start:end] = part[name]
            op[:, start:end] = _words(part["op"]).T
        frame = {name: values[:end] for name, values in columns.items()}
        frame["op"] = _words_categorical(op[:, :end])
        return pd.DataFrame(frame, columns=TIMESERIES_COLUMNS, copy=False)

    def _cell_datasets(self, cells: Cells) -> list[tuple[tuple[int, int], h5py.Dataset]]:
        wanted = None if cells is None else {(int(r), int(c)) for r, c in cells}
        out = []
        for key, group in self.f["cells"].items():
            m = _CELL_KEY.fullmatch(key)
            if m is None or "timeseries" not in group:
                continue
            cell = (int(m[1]), int(m[2]))
            if wanted is None or cell in wanted:
                out.append((cell, group["timeseries"]))
        return sorted(out, key=lambda item: item[0])

    def close(self) -> None:
        if getattr(self, "f", None) is not None and self.f.id.valid:
            self.f.close()
        if self._raw is not None:
            self._raw.close()

    def __enter__(self) -> Log:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_log(path: str | Path) -> Log:
    """Open a reramlab log read-only; `LogFileError` if it is missing or not a reramlab log."""
    return Log(path)


def categorical(values: np.ndarray) -> pd.Categorical:
    """Fixed-width byte strings as a pandas Categorical of str, without decoding per element."""
    if values.dtype.itemsize % 8 == 0 and values.ndim == 1:
        return _words_categorical(np.ascontiguousarray(_words(values).T))
    uniques, codes = np.unique(values, return_inverse=True)
    return _from_codes(codes, uniques)


def _words(values: np.ndarray) -> np.ndarray:
    """Byte strings (a field of a compound array, strided) as uint64 words, shape (n, width/8)."""
    return values.reshape(len(values), 1).view(np.uint8).view(np.uint64)


def _words_categorical(words: np.ndarray) -> pd.Categorical:
    """Categorical of the byte strings whose 8-byte words are the rows of `words` (k, n):
    an exact hash factorization of each word, the codes then combined and factorized."""
    n_words, n = words.shape
    key = np.zeros(n, dtype=np.int64)
    word_uniques = []
    for word in words:
        codes, uniques = pd.factorize(word)
        if len(uniques) > 1:
            if float(key.max() + 1) * len(uniques) >= 2.0**62:  # too many to combine exactly
                strings = np.ascontiguousarray(words.T).view(f"S{8 * n_words}").ravel()
                uniques, codes = np.unique(strings, return_inverse=True)
                return _from_codes(codes, uniques)
            key = key * len(uniques) + codes
        word_uniques.append(uniques)
    codes, keys = pd.factorize(key)
    first = np.empty((len(keys), n_words), dtype=np.uint64)
    for j in reversed(range(n_words)):
        first[:, j] = word_uniques[j][keys % len(word_uniques[j])]
        keys = keys // len(word_uniques[j])
    return _from_codes(codes, first.view(f"S{8 * n_words}").ravel())


def _from_codes(codes: np.ndarray, uniques: np.ndarray) -> pd.Categorical:
    labels = [u.decode("utf-8", "surrogateescape") for u in uniques.tolist()]
    return pd.Categorical.from_codes(codes, categories=labels, validate=False)


def records_frame(records: np.ndarray) -> pd.DataFrame:
    """A compound-dtype array as a DataFrame, byte-string fields decoded to str."""
    columns = {}
    for name in records.dtype.names or ():
        field = records[name]
        columns[name] = np.asarray(categorical(field)) if field.dtype.kind == "S" else field
    return pd.DataFrame(columns)


_SUPERBLOCK = b"\x89HDF\r\n\x1a\n"
_WRITE_FLAGS = 0x01 | 0x04  # "open for write" and "open for SWMR write"


class _ClearedFlagsFile(io.RawIOBase):
    """A log file read as-is, except that its superblock no longer says "open for write".

    HDF5 (superblock v3, as the writer creates) refuses to open a file another process holds
    for writing, or that a killed writer left flagged, even with file locking off. This view
    clears those flags (and re-checksums the superblock) in memory; the file is never written.
    """

    def __init__(self, path: Path) -> None:
        self._f = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        head = self._f.read(48)
        if not head.startswith(_SUPERBLOCK) or head[8] < 3:
            self._head = head
        else:
            patched = head[:11] + bytes([head[11] & ~_WRITE_FLAGS]) + head[12:44]
            self._head = patched + _lookup3(patched).to_bytes(4, "little")
        self._f.seek(0)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        return self._f.seek(pos, whence)

    def tell(self) -> int:
        return self._f.tell()

    def readinto(self, buffer: Any) -> int:
        pos = self._f.tell()
        n = self._f.readinto(buffer)
        if n and pos < len(self._head):
            k = min(len(self._head) - pos, n)
            memoryview(buffer).cast("B")[:k] = self._head[pos : pos + k]
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


def _lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 `hashlittle`, the checksum of HDF5 metadata."""
    mask = 0xFFFFFFFF

    def rot(x: int, k: int) -> int:
        return ((x << k) | (x >> (32 - k))) & mask

    def words(chunk: bytes) -> tuple[int, int, int]:
        chunk = chunk.ljust(12, b"\0")
        return tuple(int.from_bytes(chunk[i : i + 4], "little") for i in (0, 4, 8))  # type: ignore[return-value]

    n = len(data)
    v = [(0xDEADBEEF + n + initval) & mask] * 3  # a, b, c
    i = 0
    while n - i > 12:
        v = [(s + w) & mask for s, w in zip(v, words(data[i : i + 12]), strict=True)]
        for k, s in enumerate((4, 6, 8, 16, 19, 4)):  # mix(): x -= z; x ^= rot(z, s); z += y
            x, y, z = k % 3, (k + 1) % 3, (k + 2) % 3
            v[x] = ((v[x] - v[z]) & mask) ^ rot(v[z], s)
            v[z] = (v[z] + v[y]) & mask
        i += 12
    if n - i == 0:
        return v[2]
    v = [(s + w) & mask for s, w in zip(v, words(data[i:]), strict=True)]
    for k, s in enumerate((14, 11, 25, 16, 4, 14, 24)):  # final(): x ^= y; x -= rot(y, s)
        x, y = (k + 2) % 3, (k + 1) % 3
        v[x] = ((v[x] ^ v[y]) - rot(v[y], s)) & mask
    return v[2]
