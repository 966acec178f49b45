"""``astroagent labtech check --target FILE --proposed FILE [--kind K] [--function Q ...] [--json]``.

Exit 0 when the proposal has the shape its kind allows, 1 with one line per broken rule, 2 when a
file cannot be read or the kind is unknown.
"""

from __future__ import annotations

from pathlib import Path

import click

from astroagent.cli._app import EXIT_FAILED, EXIT_OK, EXIT_USAGE, emit_json, fail
from astroagent.cli.labtech import labtech

__all__ = ["check_command", "read_source"]

_MAX_BYTES = 5_000_000


def read_source(path: Path, role: str) -> bytes:
    """The file's bytes (the guard decodes them as Python does); exit 2 when unreadable."""
    try:
        if path.stat().st_size > _MAX_BYTES:
            fail(f"{role} {path}: larger than {_MAX_BYTES // 1_000_000} MB", EXIT_USAGE)
        return path.read_bytes()
    except IsADirectoryError:
        fail(f"{role} {path}: is a directory", EXIT_USAGE)
    except OSError as exc:
        fail(f"{role} {path}: cannot read ({exc.strerror or type(exc).__name__})", EXIT_USAGE)


@labtech.command("check")
@click.option("--target", "target", required=True, type=click.Path(path_type=Path, dir_okay=True),
              help="The current version of the file.")
@click.option("--proposed", "proposed", required=True, type=click.Path(path_type=Path, dir_okay=True),
              help="The proposed new version.")
@click.option("--kind", "kind", default="llm", show_default=True, metavar="llm|rule:FIX",
              help="What made the change: an LLM, or the fix rule FIX (e.g. rule:add_retry_mechanism).")
@click.option("--function", "functions", multiple=True, metavar="QUALNAME",
              help="A function the change may touch (repeatable; default: every function).")
@click.option("--json", "as_json", is_flag=True, help="Print {ok, violations} as JSON.")
def check_command(target: Path, proposed: Path, kind: str, functions: tuple[str, ...], as_json: bool) -> int:
    """Judge a proposed new version of a file with the safety guard (an allow-list of change shapes).

    The proposal must be UTF-8 Python. A rule fix may add only its own decorator, imports and
    helper. An LLM change may change the bodies of the named functions and add private helpers,
    allow-listed imports and literal constants; it must keep every public name, parameter and log
    call, add no process, network, file, environment, thread, tracing or dynamic-code use and change
    no destination of one, and only narrow exception handlers (or re-raise on every path). The
    allowed imports are the workspace's lab_technician.llm.allowed_imports (the target's workspace).
    """
    from astroagent.config import load_config
    from astroagent.labtech import check_change, parse_kind  # loaded only when a check runs
    from astroagent.paths import find_project, find_workspace

    try:
        parse_kind(kind)
    except ValueError as exc:
        fail(f"--kind: {exc}", EXIT_USAGE)
    old = read_source(target, "--target")
    new = read_source(proposed, "--proposed")
    workspace = find_workspace(target.parent)
    allowed = load_config(workspace).lab_technician.llm.allowed_imports
    report = check_change(old, new, path=str(target), kind=kind, functions=functions or None,
                          allowed_imports=allowed, workspace=workspace or find_project([target]))
    if as_json:
        emit_json({"ok": report.ok, "violations": list(report.violations)})
    else:
        for line in report.violations:
            click.echo(line)
        if report.ok:
            click.echo(f"{target}: ok — the proposal has the shape a {kind} change may have")
    return EXIT_OK if report.ok else EXIT_FAILED
