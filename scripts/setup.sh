#!/usr/bin/env bash
# Create .venv (if needed) and install inr with its test dependencies into it.
# torch is pinned to a CPU build that pip finds quickly; an unpinned torch may pull a multi-GB CUDA build.
# pip's chatter goes to .venv/setup.log and is shown only if something fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
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
  install "torch==2.13.0"
fi
install -e ".[test]"
