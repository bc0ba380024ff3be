"""Entry point of the ``inr`` command and ``python -m inrcli``.

Signal handling is installed before the heavy imports (torch), so SIGTERM or Ctrl-C at any
moment ends the run with one line and no partial output.
"""

import os
import signal
import sys

from inrcli.errors import Terminated


def _terminate(signum, frame):
    raise Terminated


INTERRUPTED = (130, 143)


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if _quick_info(sys.argv[1:]):
            return
        from inrcli.cli import app

        app(prog_name="inr")
    except KeyboardInterrupt as exc:
        sys.stderr.write("inr: error: interrupted; no output written\n")
        _exit_now(143 if isinstance(exc, Terminated) else 130)
    except SystemExit as exc:
        if exc.code in INTERRUPTED:
            _exit_now(exc.code)
        raise


def _quick_info(args: list[str]) -> bool:
    """``inr info FILE [--json]`` without the command framework (typer, rich: ~0.4 s of imports):
    the header read and printed as the ``info`` command does.  Any other arguments, and any
    failure other than the file's own error, go the normal way (which reports them as usual);
    True once done."""
    if len(args) not in (2, 3) or args[0] != "info" or (len(args) == 3 and "--json" not in args[1:]):
        return False
    paths = [a for a in args[1:] if a != "--json"]
    if len(paths) != 1 or (paths[0].startswith("-") and paths[0] != "-"):
        return False
    from inrcli.errors import InrError

    try:
        from inrcli import fileformat, render
        from inrcli.signals import signal_kind

        data = fileformat.describe_source(paths[0])
        if "--json" in args:
            render.emit_json(data)
        else:
            print(render.info_text(paths[0], data, signal_kind(data["modality"])))
    except InrError as exc:
        sys.stderr.write(f"inr: error: {exc}\n")
        _exit_now(exc.exit_code)
    except Exception:  # an OS failure or worse: the normal path reports it (and honours --debug)
        return False
    return True


def _exit_now(code: int) -> None:
    """Leave with ``code`` once an interrupt has been handled (outputs are cleaned up by then).

    CPython remembers a Ctrl-C that arrived while a library was evaluating code of its own, and
    at exit turns even a handled one into death by SIGINT (exit status -2, seen about once in
    eight interrupts during start-up); leaving here keeps the promised 130 or 143."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
