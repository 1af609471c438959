"""The ``reramlab`` command line (click). Bad input exits 2 with one clear message, no traceback
unless ``--debug``; Ctrl-C (SIGTERM, SIGHUP) exits 130 after the bench is made safe and the run
marked aborted; a run that failed (an instrument fault, or a bench that could not be made fully
safe) exits 1 with the reason."""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from reramlab.errors import BenchFault, ReramlabError, StationError

console = Console(stderr=True)
out = Console()


def _settings(pairs: tuple[str, ...]) -> dict[str, str]:
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ReramlabError(f"--set {pair!r}: expected key=value")
        result[key.strip()] = value.strip()
    return result


def _progress_bar():
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[note]}"), console=console,
                    transient=True)  # fmt: skip


def run_with_progress(protocol: str, **kwargs):
    from reramlab.runner import execute

    with _progress_bar() as bar:
        task = bar.add_task(protocol, total=None, note="")

        def update(p) -> None:
            bar.update(task, completed=p.done, total=p.total, note=p.message)

        return execute(protocol, on_progress=update, **kwargs)


@click.group()
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """reramlab: protocols for 1T1R ReRAM chips on real benches and on the simulated chip."""
    ctx.obj = {"debug": debug}


@cli.command("run")
@click.argument("protocol")
@click.option("--station", default="sim", show_default=True, help="Station name or YAML path.")
@click.option("--cells", default="0:8,0:8", show_default=True, help="ROWS,COLS slices or 'all'.")
@click.option("--out", default="reramlab.h5", show_default=True, type=click.Path(path_type=Path))
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Protocol parameter.")
@click.option("--resume", is_flag=True, help="Continue the last unfinished run of this protocol.")
@click.option("--sim", is_flag=True, help="Run this station's instruments against the simulator.")
def run_cmd(protocol: str, station: str, cells: str, out: Path, sets: tuple[str, ...],
            resume: bool, sim: bool) -> None:  # fmt: skip
    """Run PROTOCOL on a station and log it to an HDF5 file."""
    result = run_with_progress(protocol, station=station, cells=cells, out=out,
                               settings=_settings(sets), resume=resume, sim=sim)  # fmt: skip
    colour = "green" if result.status == "completed" else "red"
    console.print(f"[{colour}]{result.status}[/{colour}] {protocol} -> {result.log_path} "
                  f"(run {result.run_id}, bench time {result.bench_time_s:.3g} s)")  # fmt: skip
    if result.status != "completed":
        console.print(f"[red]error:[/red] {result.error}", highlight=False)
        sys.exit(1)


@cli.command("analyze")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--report", "report_dir", type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
              help="Write DIR/report.html (self-contained) and the figures as DIR/*.png.")  # fmt: skip
def analyze_cmd(files: tuple[Path, ...], as_json: bool, report_dir: Path | None) -> None:
    """Summarise runs and metrics of one or more logs; optionally write an HTML report."""
    from reramlab.analysis import combined_runs, load_summaries

    summaries = load_summaries(files)
    if report_dir is not None:
        from reramlab.analysis import write_report

        console.print(f"report -> {write_report(files, report_dir)}")
    if as_json:
        click.echo(json.dumps(combined_runs(summaries), indent=1, default=float))
        return
    for s in summaries:
        table = Table(title=s["file"])
        for col in ("run", "protocol", "status", "metrics"):
            table.add_column(col)
        for r in s["runs"]:
            metrics = ", ".join(f"{k}={v:.4g}" for k, v in r["metrics"].items())
            note = metrics or r.get("analysis_error", "")
            table.add_row(r["id"], r["protocol"], r["status"], note)
        out.print(table)


@cli.group("station")
def station_grp() -> None:
    """Inspect station files."""


@station_grp.command("check")
@click.argument("station")
@click.option("--sim", is_flag=True, help="Check against the simulator.")
def station_check(station: str, sim: bool) -> None:
    """Connect, identify, verify wiring roles, limits and error queues."""
    from reramlab.stations.check import check_station
    from reramlab.stations.loader import load_station

    try:  # the file first: bad input gets one clear error
        load_station(station)
    except (OSError, UnicodeDecodeError) as e:
        raise StationError(f"{station}: cannot read the station file ({e})") from None
    except (TypeError, AttributeError) as e:  # a value of a type the loader did not expect
        raise StationError(f"{station}: malformed station file ({type(e).__name__}: {e})") from None
    report = check_station(station, sim=sim)
    table = Table(title=f"station {report.name} ({report.library})")
    for col in ("instrument", "address", "identity", "roles", "errors", "ok"):
        table.add_column(col)
    for row in report.rows:
        table.add_row(row.name, row.address, row.identity, ", ".join(row.roles), "; ".join(row.errors) or "-",
                      "[green]yes[/green]" if row.ok else "[red]NO[/red]")  # fmt: skip
    out.print(table)
    for problem in report.problems:
        console.print(f"[red]problem:[/red] {problem}")
    if not report.ok:
        sys.exit(1)
    out.print("[green]station OK[/green]")


@cli.command("protocols")
@click.option("--json", "as_json", is_flag=True)
@click.option("--station", default=None, help="show this station's defaults (protocol_defaults)")
def protocols_cmd(as_json: bool, station: str | None) -> None:
    """List protocols and their parameters (units, defaults)."""
    from reramlab.protocols.base import PROTOCOL_MODULES, describe, get_protocol, make_params
    from reramlab.stations.loader import load_station

    st = None if station is None else load_station(station)
    data = {}
    for name in PROTOCOL_MODULES:
        module = get_protocol(name)
        parameters = describe(module)
        defaults = {} if st is None else st.protocol_defaults(name)
        if defaults:  # the station's, as a run there uses them
            params = make_params(module, defaults)
            for p in parameters:
                p["default"] = getattr(params, p["name"])
        data[name] = {"title": module.TITLE, "parameters": parameters}
    if as_json:
        click.echo(json.dumps({"protocols": data}, indent=1))
        return
    for name, info in data.items():
        table = Table(title=f"{name}: {info['title']}")
        for col in ("parameter", "default", "unit", "range", "meaning"):
            table.add_column(col)
        for p in info["parameters"]:
            table.add_row(p["name"], f"{p['default']:g}" if isinstance(p["default"], float) else str(p["default"]),
                          p["unit"], f"[{p['min']}, {p['max']}]", p["help"])  # fmt: skip
        out.print(table)


@cli.command("demo")
@click.option(
    "--out", "out_dir", default="reramlab-demo", show_default=True, type=click.Path(path_type=Path)
)
@click.option("--cells", default="0:8,0:8", show_default=True)
def demo_cmd(out_dir: Path, cells: str) -> None:
    """Run the protocol suite on the simulated chip and summarise it."""
    from reramlab.demo import run_demo

    summary = run_demo(out_dir, cells=cells, progress=run_with_progress)
    for line in summary:
        out.print(line)


@cli.command("validate")
@click.option("--rows", default="", help="Comma-separated reference rows (default: all available).")
@click.option("--json", "as_json", is_flag=True)
def validate_cmd(rows: str, as_json: bool) -> None:
    """Run REFERENCE_RESULTS.md scenarios on the simulated chip: measured vs target."""
    from reramlab.validate import run_validation

    wanted = [int(r) for r in rows.split(",") if r.strip()] or None
    results = run_validation(wanted)
    if as_json:
        click.echo(json.dumps({"rows": results}, indent=1, default=float))
    else:
        table = Table(title="reference results on the simulated chip")
        for col in ("row", "protocol", "preset", "metric", "measured", "target", "pass"):
            table.add_column(col)
        for r in results:
            for name, check in r["checks"].items():
                table.add_row(str(r["row"]), r["protocol"], r["preset"], name, f"{check['measured']:.4g}",
                              check["target"], "[green]yes[/green]" if check["pass"] else "[red]NO[/red]")  # fmt: skip
        out.print(table)
    if not all(r["pass"] for r in results):
        sys.exit(1)


def main() -> None:
    debug = "--debug" in sys.argv
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        console.print("[yellow]aborted[/yellow]: outputs at 0 V and off, switches open")
        sys.exit(130)
    except KeyboardInterrupt:
        console.print(
            "[yellow]aborted[/yellow]: outputs at 0 V and off, switches open; run marked aborted"
        )
        sys.exit(130)
    except click.exceptions.ClickException as e:
        e.show()
        sys.exit(2)
    except ReramlabError as e:
        if debug:
            traceback.print_exc()
        console.print(f"[red]error:[/red] {e}", highlight=False)
        sys.exit(e.exit_code)
    except BenchFault as e:
        if debug:
            traceback.print_exc()
        console.print(f"[red]failed:[/red] {e}", highlight=False)
        sys.exit(e.exit_code)
    except Exception as e:  # noqa: BLE001 - last line of defence for the user
        if debug:
            raise
        console.print(f"[red]failed:[/red] {type(e).__name__}: {e} (run with --debug for the traceback)",
                      highlight=False)  # fmt: skip
        sys.exit(1)


if __name__ == "__main__":
    main()
