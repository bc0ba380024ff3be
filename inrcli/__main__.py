"""Entry point of the ``inr`` command and ``python -m inrcli``.

Signal handling is installed before the heavy imports (torch), so SIGTERM or Ctrl-C at any
moment ends the run with one line and no partial output.
"""

import signal
import sys

from inrcli.errors import Terminated


def _terminate(signum, frame):
    raise Terminated


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        from inrcli.cli import app

        app(prog_name="inr")
    except KeyboardInterrupt as exc:
        sys.stderr.write("inr: error: interrupted; no output written\n")
        sys.exit(143 if isinstance(exc, Terminated) else 130)


if __name__ == "__main__":
    main()
