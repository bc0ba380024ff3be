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
        from inrcli.cli import app

        app(prog_name="inr")
    except KeyboardInterrupt as exc:
        sys.stderr.write("inr: error: interrupted; no output written\n")
        _exit_now(143 if isinstance(exc, Terminated) else 130)
    except SystemExit as exc:
        if exc.code in INTERRUPTED:
            _exit_now(exc.code)
        raise


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
