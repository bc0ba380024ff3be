"""How a command ends: one ``inr: error: …`` line and an exit code, never a traceback (unless
``--debug``); 130/143 after Ctrl-C/SIGTERM, 141 when the reader of stdout has gone."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable

import typer
from rich.console import Console

from inrcli.errors import InrError, Terminated


def guarded(func, err: Console, debug: Callable[[], bool]):
    """``func`` run so that library errors, interrupts and OS failures end as one ``inr: error:``
    line on ``err`` and an exit code; with ``debug()`` true, tracebacks instead."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except InrError as exc:
            if debug():
                raise
            fail(err, str(exc), exc.exit_code)
        except KeyboardInterrupt as exc:
            fail(err, "interrupted; no output written", 143 if isinstance(exc, Terminated) else 130)
        except MemoryError:
            fail(err, "out of memory; try a smaller size, fewer --params or a region", 1)
        except BrokenPipeError:  # `inr … | head`: the reader has gone; say nothing more, as Unix tools do
            _quiet_stdout()
            raise typer.Exit(141) from None
        except OSError as exc:  # a full disk, a name too long, a directory we may not write in
            if debug():
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            fail(err, f"{where}{exc.strerror or exc}", 1)
        except Exception as exc:
            if debug():
                raise
            fail(err, f"internal error: {type(exc).__name__}: {exc} (rerun with --debug)", 1)

    return wrapper


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush meets no closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (an in-process test runner)
        pass


def fail(err: Console, message: str, code: int) -> None:
    """One ``inr: error:`` line on ``err``, then exit with ``code``."""
    err.print(f"inr: error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code) from None


class OneLineUsageErrors(typer.core.TyperGroup):
    """The command group whose usage errors (a missing argument, an unknown option, a bad number)
    are one ``inr: error:`` line and exit code 2, like every other error, not a framed box."""

    def main(self, *args, **kwargs):
        from typer._click.exceptions import ClickException, NoArgsIsHelpError

        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except NoArgsIsHelpError as exc:  # `inr` alone: the help, as asked
            exc.show()
            sys.exit(0)
        except ClickException as exc:
            context = getattr(exc, "ctx", None)
            hint = f"; see '{context.command_path} --help'" if context is not None else ""
            sys.stderr.write(f"inr: error: {exc.format_message().rstrip('.')}{hint}\n")
            sys.exit(exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)
