#!/usr/bin/env bash
# Create .venv (if needed) and install inr with its test dependencies into it.
# torch is pinned to a CPU build that pip finds quickly; an unpinned torch may pull a multi-GB CUDA build.
# pip's chatter goes to .venv/setup.log and is shown only if something fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv .venv
fi
log=.venv/setup.log
: > "$log"
install() {
  if ! .venv/bin/python -m pip install --quiet "$@" >> "$log" 2>&1; then
    cat "$log" >&2
    echo "setup: pip install $* failed (log above)" >&2
    exit 1
  fi
}
install --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "setup: installing torch 2.13.0, CPU build (about 200 MB; a few minutes on a slow line)"
  install "torch==2.13.0"
fi
echo "setup: installing inrcli and its dependencies into .venv (pip's log: $log)"
install -e ".[test]"
echo "setup: building the compiled training step (once per machine; torch code serves without it)"
.venv/bin/python -c "from inrcli.models import local_global_step as step; step.available(); print('setup: training step:', step.status())"
echo "setup: done; run .venv/bin/inr --help"
