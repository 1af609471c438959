"""Runs of several logs (chips, stations, sessions) in one table or one JSON object."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from .load import open_log
from .metrics import summarize

COLUMNS = ["file", "station", "chip", "id", "protocol", "status"]


def load_summaries(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """`summarize()` of each log, in order."""
    out = []
    for path in paths:
        with open_log(path) as log:
            out.append(summarize(log))
    return out


def combined_runs(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The `analyze --json` object: {"runs": [...]}, each run with its "file" if several logs."""
    if len(summaries) == 1:
        return {"runs": summaries[0]["runs"]}
    return {"runs": [{**run, "file": s["file"]} for s in summaries for run in s["runs"]]}


def comparison(summaries: list[dict[str, Any]], protocol: str | None = None) -> pd.DataFrame:
    """One row per run (of `protocol`, or all): file, station, chip, id, protocol, status, then
    one column per metric (NaN where a run lacks it)."""
    rows = [{"file": s["file"], "station": s["station"], "chip": s["chip"], "id": run["id"],
             "protocol": run["protocol"], "status": run["status"], **run["metrics"]}
            for s in summaries for run in s["runs"]
            if protocol is None or run["protocol"] == protocol]  # fmt: skip
    table = pd.DataFrame(rows)
    return table if len(table.columns) else pd.DataFrame(columns=COLUMNS)


def compare(paths: Iterable[str | Path], protocol: str | None = None) -> pd.DataFrame:
    """`comparison()` of the logs at `paths`: e.g. forming on every chip of a wafer."""
    return comparison(load_summaries(paths), protocol)
