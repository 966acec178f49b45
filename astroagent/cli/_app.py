"""The command-line frame: the root group, global options, and the edge where errors
become one line on stderr and an exit code (0 done, 1 the work failed, 2 bad usage or input)."""

from __future__ import annotations

import math
import os
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

import click
import orjson

from astroagent import __version__
from astroagent.errors import AstroAgentError, UsageError
from astroagent.paths import DATA_DIR_ENV

__all__ = ["cli", "main", "emit_json", "fail", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "POSITIVE_SECONDS"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _PositiveSeconds(click.ParamType):
    """A finite number of seconds above zero (click's FloatRange lets nan and inf through)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(number) or number <= 0:
            self.fail(f"must be a finite number of seconds above 0, got {value!r}", param, ctx)
        return number


POSITIVE_SECONDS = _PositiveSeconds()


def emit_json(obj: Any) -> None:
    """Print one JSON object to stdout (the ``--json`` contract)."""
    sys.stdout.write(orjson.dumps(obj, default=str, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY
                                  | orjson.OPT_NON_STR_KEYS).decode() + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """End the command with one line on stderr and ``code``."""
    raise _Exit(message, code)


class _Exit(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="astroagent")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help=f"Where data/ lives (env {DATA_DIR_ENV}; default: the workspace's data/ or ./data).")
def cli(data_dir: Path | None) -> None:
    """astroagent: a self-improving astrophysics research pipeline."""
    if data_dir is not None:
        if data_dir.exists() and not data_dir.is_dir():
            raise UsageError(f"--data-dir {data_dir}: not a directory")
        os.environ[DATA_DIR_ENV] = str(data_dir.resolve())


def _error_line(message: str) -> None:
    first = " ".join(str(message).split("\n")[0].split()) or "failed"
    click.echo(f"astroagent: error: {first}", err=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the CLI and converts every error into one line and an exit code."""
    try:
        result = cli.main(args=argv, prog_name="astroagent", standalone_mode=False)
        code = result if isinstance(result, int) else EXIT_OK
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.UsageError as exc:
        _error_line(exc.format_message())
        code = EXIT_USAGE
    except click.ClickException as exc:
        _error_line(exc.format_message())
        code = EXIT_USAGE
    except click.Abort:
        code = 130
    except _Exit as exc:
        _error_line(str(exc))
        code = exc.code
    except AstroAgentError as exc:
        _error_line(str(exc))
        code = exc.exit_code
    except KeyboardInterrupt:
        click.echo("astroagent: interrupted", err=True)
        code = 130
    except BrokenPipeError:
        code = EXIT_FAILED
    except OSError as exc:   # a path that cannot be made or read: say which, without a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        _error_line(f"{where}{exc.strerror or exc}")
        code = EXIT_FAILED
    except Exception as exc:  # the last edge: never a traceback unless asked for
        if os.environ.get("ASTROAGENT_DEBUG"):
            traceback.print_exc()
        _error_line(f"internal error: {type(exc).__name__}: {exc} (set ASTROAGENT_DEBUG=1 for the traceback)")
        code = EXIT_FAILED
    if argv is None:
        sys.exit(code)
    return code
