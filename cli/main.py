"""The ``syops`` command: a click group whose errors are single lines on stderr.

The commands are imported when first needed, inside click's own error handling, so that a
Ctrl-C during the (slow) import of torch ends with one line and exit code 130.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings

import click

from .errors import INTERRUPTED, StdoutError

# command name -> "module:attribute" of its click command, imported on first use
COMMANDS = {"models": "models:models_command", "compare": "compare:compare_command",
            "profile": "profile:profile_command"}

EPILOG = """\b
Examples:
  syops models
  syops compare fsnn50 sew50 --table
  syops profile sew7b --data-root ~/data/DVS128Gesture --top 10 --plot sew7b.png
  syops profile ckpt.pth --arch sew18 --format json --output sew18.json

Exit codes: 0 ok, 1 internal failure, 2 bad usage or bad input (also an unwritable
output or stdout), 130 interrupted (Ctrl-C)."""


def _hint(exc: click.ClickException) -> str:
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        return f" (see '{ctx.command_path} --help')"
    return ""


def flush_stdout() -> None:
    """Flush stdout now, so that a full disk or closed pipe is one error line, not a
    traceback at exit; after a failure stdout is pointed at /dev/null for the exit flush."""
    try:
        sys.stdout.flush()
    except OSError as err:
        silence_stdout()
        raise StdoutError(err) from None


def silence_stdout() -> None:
    try:
        sys.stdout.flush()
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


class OneLineErrors(click.Group):
    """Prints every error as one ``Error: ...`` line, without click's usage block, and
    loads its commands lazily from ``COMMANDS``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name].split(":")
        return getattr(importlib.import_module(f".{module}", __package__), attribute)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            result = super().main(args, prog_name or "syops", complete_var, False, **extra)
            flush_stdout()
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            message = " ".join(exc.format_message().split())
            click.echo(f"Error: {message}{_hint(exc)}", err=True)
            silence_stdout()
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:  # click's form of KeyboardInterrupt (and EOF)
            click.echo(f"Error: {INTERRUPTED}", err=True)
            silence_stdout()
            sys.exit(130)
        sys.exit(result if isinstance(result, int) else 0)


def _print_version(ctx: click.Context, param, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        from syops import __version__
        click.echo(f"syops, version {__version__}")
        ctx.exit()


@click.group("syops", cls=OneLineErrors, epilog=EPILOG,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-V", "--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version, help="Show the version and exit.")
def cli() -> None:
    """syops: synaptic operations (ACs, MACs) and energy of spiking neural networks.

    Counts are per sample; energy follows Horowitz (ISSCC 2014, 45 nm): fp32 AC 0.9 pJ,
    MAC 4.6 pJ unless --energy says otherwise. Data goes to stdout, diagnostics to stderr.
    """
    from syops.engine.counter import SyopsWarning

    from .diagnostics import silence_third_party_logs
    silence_third_party_logs()
    # the engine's warnings reach the user once, as one-line "warning:" diagnostics
    warnings.filterwarnings("ignore", category=SyopsWarning)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="syops")
    except KeyboardInterrupt:  # outside click's handling (e.g. while printing an error)
        click.echo(f"Error: {INTERRUPTED}", err=True)
        sys.exit(130)
