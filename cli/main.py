"""The ``syops`` command: a click group whose errors are single lines on stderr."""

from __future__ import annotations

import sys

import click

from syops import __version__

from .compare import compare_command
from .diagnostics import silence_third_party_logs
from .models import models_command
from .profile import profile_command

EPILOG = """\b
Examples:
  syops models
  syops compare fsnn50 sew50 --table
  syops profile sew7b --data-root ~/data/DVS128Gesture --top 10 --plot sew7b.png
  syops profile ckpt.pth --arch sew18 --format json --output sew18.json

Exit codes: 0 ok, 1 internal failure, 2 bad usage or bad input."""


def _hint(exc: click.ClickException) -> str:
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        return f" (see '{ctx.command_path} --help')"
    return ""


class OneLineErrors(click.Group):
    """Prints every error as one ``Error: ...`` line, without click's usage block."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            result = super().main(args, prog_name or "syops", complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            message = " ".join(exc.format_message().split())
            click.echo(f"Error: {message}{_hint(exc)}", err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


@click.group("syops", cls=OneLineErrors, epilog=EPILOG,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="syops")
def cli() -> None:
    """syops: synaptic operations (ACs, MACs) and energy of spiking neural networks.

    Counts are per sample; energy follows Horowitz (ISSCC 2014, 45 nm): fp32 AC 0.9 pJ,
    MAC 4.6 pJ unless --energy says otherwise. Data goes to stdout, diagnostics to stderr.
    """
    silence_third_party_logs()


cli.add_command(models_command)
cli.add_command(compare_command)
cli.add_command(profile_command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="syops")
