"""The HTML report of one or more logs: one self-contained page (inline CSS, figures embedded as
base64 PNG) with the run table, each run's parameters, metrics and figures, and a comparison
table when there are several logs; every figure is also written next to it as a PNG file."""

from __future__ import annotations

import base64
import datetime as dt
import html
import math
import numbers
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reramlab import __version__

from .compare import comparison
from .figures import FIGURES, png
from .load import Log, open_log
from .metrics import summarize

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { border-bottom: 2px solid #0072B2; padding-bottom: .2em; }
h3 { margin-top: 1.8em; } .meta { color: #666; font-size: .9em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f3f6f9; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.status { padding: .05em .5em; border-radius: .8em; color: #fff; font-size: .85em; }
.completed { background: #009E73; } .aborted { background: #E69F00; } .failed { background: #D55E00; }
.running { background: #0072B2; } .tables { display: flex; gap: 2em; flex-wrap: wrap; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; max-width: 520px; } figure img { width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85em; color: #555; text-align: center; } .error { color: #D55E00; }
"""


def write_report(
    paths: Sequence[str | Path], out_dir: str | Path, *, title: str = "reramlab report"
) -> Path:
    """Write `out_dir`/report.html and `out_dir`/*.png for the logs at `paths`; return the page."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = [Path(p).stem for p in paths]
    unique = len(set(stems)) == len(stems)
    body, summaries = [], []
    for k, path in enumerate(paths):
        prefix = "" if len(paths) == 1 else (f"{stems[k]}_" if unique else f"{k + 1}_{stems[k]}_")
        with open_log(path) as log:
            summary = summarize(log)
            summaries.append(summary)
            body.append(_log_section(log, summary, out_dir, prefix))
    if len(paths) > 1:  # one table per protocol: its runs in every log, its metrics
        protocols = dict.fromkeys(run["protocol"] for s in summaries for run in s["runs"])
        body.insert(0, "<h2>All runs</h2>" + "".join(
            f"<h3>{_e(p)}</h3>" + _table(comparison(summaries, p).dropna(axis=1, how="all"))
            for p in protocols))  # fmt: skip
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{_e(title)}</h1>"
            f"<p class='meta'>{len(paths)} log(s), generated {now} by reramlab {__version__}</p>"
            + "\n".join(body) + "</body></html>\n")  # fmt: skip
    out = out_dir / "report.html"
    out.write_text(page, encoding="utf-8")
    return out


def _log_section(log: Log, summary: dict[str, Any], out_dir: Path, prefix: str) -> str:
    info = log.info
    shape = "x".join(str(n) for n in info.get("chip_shape", []))
    instruments = ", ".join(f"{k}: {v}" for k, v in info.get("instruments", {}).items())
    parts = [f"<h2>{_e(log.path.name)}</h2><p class='meta'>station {_e(info.get('station_name', ''))}"
             f" &middot; chip {_e(info.get('chip_name', ''))} ({shape}) &middot; created "
             f"{_e(info.get('created', ''))} &middot; reramlab {_e(info.get('reramlab_version', ''))}"
             f"<br>{_e(instruments)}</p>"]  # fmt: skip
    runs = log.runs
    table = runs[["id", "protocol", "status", "start", "end", "bench_time_s", "cells", "error"]]
    parts.append(_table(table.assign(start=runs["start"].dt.strftime("%Y-%m-%d %H:%M:%S"),
                                     end=runs["end"].dt.strftime("%Y-%m-%d %H:%M:%S"))))  # fmt: skip
    wanted = runs["protocol"].isin(list(FIGURES)).any()
    timeseries = log.timeseries() if wanted else None
    for run, entry in zip(runs.itertuples(index=False), summary["runs"], strict=True):
        parts.append(f"<h3>{_e(run.id)} &mdash; {_e(run.protocol)} "
                     f"<span class='status {_e(run.status)}'>{_e(run.status)}</span></h3>")  # fmt: skip
        if run.error:
            parts.append(f"<p class='error'>{_e(run.error)}</p>")
        if "analysis_error" in entry:
            parts.append(f"<p class='error'>metrics failed: {_e(entry['analysis_error'])}</p>")
        params = pd.DataFrame(
            {"parameter": list(run.parameters), "value": list(run.parameters.values())}
        )
        metrics = pd.DataFrame(
            {"metric": list(entry["metrics"]), "value": list(entry["metrics"].values())}
        )
        parts.append(
            f"<div class='tables'><div>{_table(params)}</div><div>{_table(metrics)}</div></div>"
        )
        if timeseries is not None and run.protocol in FIGURES:
            own = timeseries[timeseries["run"].to_numpy() == run.number]
            parts.append(_figures(log, run, own, out_dir, f"{prefix}{run.id}_"))
    return "\n".join(parts)


def _figures(log: Log, run: Any, timeseries: pd.DataFrame, out_dir: Path, prefix: str) -> str:
    try:
        figures = FIGURES[run.protocol](log.run(run.id), timeseries, run.parameters)
    except Exception as e:  # noqa: BLE001 - one plug-in must not stop the report
        warnings.warn(f"{log.path} {run.id}: figures failed: {type(e).__name__}: {e}", stacklevel=2)
        return f"<p class='error'>figures failed: {_e(f'{type(e).__name__}: {e}')}</p>"
    items = []
    for name, fig in figures:
        data = png(fig)
        (out_dir / f"{prefix}{name}.png").write_bytes(data)
        items.append(f"<figure><img alt='{_e(name)}' src='data:image/png;base64,"
                     f"{base64.b64encode(data).decode()}'><figcaption>{_e(name)}</figcaption></figure>")  # fmt: skip
    return f"<div class='figures'>{''.join(items)}</div>"


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>"
                   for row in frame.itertuples(index=False, name=None))  # fmt: skip
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _cell(value: Any) -> str:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_):
        return f"<td class='num'>{value}</td>"
    if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
        return f"<td class='num'>{'' if math.isnan(value) else f'{value:.4g}'}</td>"
    return f"<td>{'' if value is None or value is pd.NaT else _e(value)}</td>"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
