"""Replace one marked section of bench/RESULTS.md, leaving the rest as it is."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(name: str, text: str) -> None:
    """Put ``text`` (which starts and ends with the ``name`` markers) in place of the old
    section between ``<!-- name:begin -->`` and ``<!-- name:end -->``, or append it."""
    current = RESULTS.read_text()
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if begin in current:
        current = current[:current.index(begin)] + text + current[current.index(end) + len(end):]
    else:
        current = current.rstrip() + "\n\n" + text + "\n"
    RESULTS.write_text(current)
