"""``astroagent run`` and ``astroagent demo``: the pipeline as users meet it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from astroagent.cli._app import POSITIVE_SECONDS, cli, emit_json, fail
from astroagent.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["run_command", "demo_command"]


@cli.command("run")
@click.option("--cycles", type=click.IntRange(min=1), default=None, help="Stop after N cycles.")
@click.option("--duration", type=POSITIVE_SECONDS, default=None,
              help="Stop after S seconds (the experiment in flight finishes).")
@click.option("--lab-interval", type=POSITIVE_SECONDS, default=None,
              help="Run the Lab Technician every S seconds (adapted within the configured bounds).")
@click.option("--no-lab-technician", is_flag=True, help="Run experiments only; never change code.")
@click.option("--area", "areas", multiple=True, help="Research area (repeatable; default from the config).")
@click.option("--workers", type=click.IntRange(min=1, max=1024), default=None,
              help="Run N experiments at a time (default: pipeline.workers, 1).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default=None,
              help="local: worker processes on this machine (default); ray: Ray actors (astroagent[ray]).")
@click.option("--ray-address", default=None, metavar="ADDR",
              help="Join this Ray cluster (auto or HOST:PORT); default: start a local Ray instance.")
@click.option("--dashboard", "with_dashboard", is_flag=True,
              help="Serve the web dashboard (127.0.0.1) beside the pipeline while it runs.")
@click.option("--port", type=click.IntRange(0, 65535), default=8750, show_default=True,
              help="The dashboard's port (with --dashboard).")
def run_command(cycles: int | None, duration: float | None, lab_interval: float | None,
                no_lab_technician: bool, areas: tuple[str, ...], workers: int | None,
                executor: str | None, ray_address: str | None, with_dashboard: bool, port: int) -> None:
    """Run the pipeline until stopped (Ctrl-C or SIGTERM stop it gracefully) or a bound is reached."""
    import asyncio  # rich and asyncio load only when a command runs: `astroagent --help` stays fast

    from rich.console import Console

    from astroagent.cli.live_view import LiveView
    from astroagent.orchestration.continuous_pipeline import ContinuousPipeline
    from astroagent.orchestration.state import state_path

    if cycles is not None and duration is not None:
        raise UsageError("give --cycles or --duration, not both")
    if ray_address is not None and executor == "local":
        raise UsageError("--ray-address needs --executor ray")
    if ray_address is not None and not ray_address.strip():
        raise UsageError("--ray-address must be auto or HOST:PORT, got an empty string")
    pipeline = ContinuousPipeline(max_cycles=cycles, duration=duration, workers=workers,
                                  executor=executor or ("ray" if ray_address else None), ray_address=ray_address)
    if lab_interval is not None:
        pipeline.set_lab_technician_interval(lab_interval)
    if no_lab_technician:
        pipeline.disable_lab_technician()
    else:
        pipeline.enable_lab_technician()
    console = Console()
    if pipeline.workspace is None:
        console.print("[yellow]no workspace here (astroagent init DIR makes one): the Lab Technician "
                      "has no code it may change[/yellow]")
    research = {"domain": "astrophysics"}
    if areas:
        research["research_areas"] = list(areas)
    from astroagent.cli.dashboard_cmd import dashboard_beside

    with dashboard_beside(pipeline, port if with_dashboard else None, console.print), \
            LiveView(console, title="astroagent run") as view:
        pipeline.status_callbacks.append(view.update)
        state = asyncio.run(pipeline.run_continuous(research))
    rate = "–" if state.success_rate is None else f"{100 * state.success_rate:.0f} %"
    console.print(f"stopped after {state.cycle} cycle(s): {state.experiments} experiments, success rate {rate}, "
                  f"{len(state.changes)} change(s); state in {state_path(pipeline.data_dir)}",
                  highlight=False)


@cli.command("demo")
@click.option("--cycles", type=click.IntRange(min=2), default=None,
              help="At most N cycles of experiments (default: enough for a change to be made and judged).")
@click.option("--workdir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Make the demo workspace here (default: a new temporary folder, kept afterwards).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the outcome.")
def demo_command(cycles: int | None, workdir: Path | None, as_json: bool) -> None:
    """Show the loop in minutes, offline: a flaky archive, the Experimenter failing, the Lab
    Technician fixing its code, the success rate climbing; exit 0 only if it really worked."""
    from rich.console import Console

    from astroagent.cli.live_view import LiveView
    from astroagent.demo import run_demo

    console = Console(stderr=as_json)
    with LiveView(console, title="astroagent demo", enabled=not as_json or console.is_terminal) as view:
        result = run_demo(cycles=cycles, workdir=workdir, on_update=view.update,
                          say=lambda text: view.model.events.append(text))
    if as_json:
        emit_json(result.to_json())
    else:
        _print_summary(console, result)
    if not result.passed:
        fail(f"the demo did not show the loop working: {result.reason}")


def _print_summary(console: Console, result) -> None:  # noqa: ANN001  (DemoResult, imported lazily)
    from rich.table import Table

    def pct(value: float | None) -> str:
        return "–" if value is None else f"{100 * value:.0f} %"

    console.print(f"\n[bold]success rate[/bold]  before {pct(result.success_rate_before)} "
                  f"({result.experiments_before} experiments on the first code version)  →  after "
                  f"{pct(result.success_rate_after)} ({result.experiments_after} on the last)", highlight=False)
    table = Table(title="changes made by the Lab Technician", title_justify="left")
    for column in ("id", "type", "target", "verdict"):
        table.add_column(column, overflow="fold")
    style = {"kept": "green", "rolled_back": "red", "pending": "yellow"}
    for item in result.improvements:
        table.add_row(item["id"], item["type"] or "", item["target"] or "",
                      f"[{style.get(item['verdict'], '')}]{item['verdict']}[/]")
    if result.improvements:
        console.print(table)
    else:
        console.print("no change was made")
    if result.time_to_first_kept is not None:
        console.print(f"first kept change after {result.time_to_first_kept:.0f} s; whole demo {result.wall_time:.0f} s",
                      highlight=False)
    console.print(f"report: {result.report_path or '–'}\nplot:   {result.plot_path or '–'}\n"
                  f"workspace: {result.workdir}", highlight=False)
    verdict = "[green]the loop worked[/green]" if result.passed else f"[red]FAILED[/red]: {result.reason}"
    console.print(verdict)
    sys.stdout.flush()
