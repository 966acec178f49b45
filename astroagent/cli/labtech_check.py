"""``astroagent labtech check --target FILE --proposed FILE [--json]``: the safety guard on any proposal.

Exit 0 when the proposal passes every rule two files can show, 1 with one line per broken rule,
2 when a file cannot be read.
"""

from __future__ import annotations

from pathlib import Path

import click

from astroagent.cli._app import EXIT_FAILED, EXIT_OK, EXIT_USAGE, emit_json, fail
from astroagent.cli.labtech import labtech

__all__ = ["check_command", "read_source"]

_MAX_BYTES = 5_000_000


def read_source(path: Path, role: str) -> str:
    """The file's text (undecodable bytes kept as replacement characters); exit 2 when unreadable."""
    try:
        if path.stat().st_size > _MAX_BYTES:
            fail(f"{role} {path}: larger than {_MAX_BYTES // 1_000_000} MB", EXIT_USAGE)
        data = path.read_bytes()
    except IsADirectoryError:
        fail(f"{role} {path}: is a directory", EXIT_USAGE)
    except OSError as exc:
        fail(f"{role} {path}: cannot read ({exc.strerror or type(exc).__name__})", EXIT_USAGE)
    return data.decode("utf-8", errors="replace")


@labtech.command("check")
@click.option("--target", "target", required=True, type=click.Path(path_type=Path, dir_okay=True),
              help="The current version of the file.")
@click.option("--proposed", "proposed", required=True, type=click.Path(path_type=Path, dir_okay=True),
              help="The proposed new version.")
@click.option("--json", "as_json", is_flag=True, help="Print {ok, violations} as JSON.")
def check_command(target: Path, proposed: Path, as_json: bool) -> int:
    """Judge a proposed new version of a file against DESIGN section 5's safety rules."""
    from astroagent.labtech import check_change  # loaded only when a check runs

    old = read_source(target, "--target")
    new = read_source(proposed, "--proposed")
    report = check_change(old, new, path=str(target))
    if as_json:
        emit_json({"ok": report.ok, "violations": list(report.violations)})
    else:
        for line in report.violations:
            click.echo(line)
        if report.ok:
            click.echo(f"{target}: ok — the proposal keeps every checked safety rule")
    return EXIT_OK if report.ok else EXIT_FAILED
