"""How much a signal file may decode to: one policy for every reader (docs/SECURITY.md).

A reader first estimates the decoded size from the file's headers and calls :meth:`DecodeBudget.expect`
before it decodes anything; while decoding it counts what it actually produced with
:meth:`DecodeBudget.take`, so a header that lies (a raw H.264 stream with no duration, a GIF
whose frame count no header states, a PNG whose compressed data inflates past its declared size)
stops at the same limit instead of running on.

The limit, in values (samples × channels, each held as a 4-byte float while encoding):

* at most ``INR_MAX_VALUES`` (default 2²⁸ = 268,435,456, 1 GiB as float32) in all;
* above 2²⁴ values, at most 4,096 values per byte of input: ordinary compression stays far below
  that (a blank 4000×4000 PNG is ~1,000 values per byte), decompression bombs far above it
  (a 675-byte JPEG claiming 12000×12000 pixels is 640,000).

Setting ``INR_MAX_VALUES`` states the limit outright and lifts the per-byte rule.
"""

from __future__ import annotations

import os
from pathlib import Path

from inrcli.errors import SignalReadError

DEFAULT_MAX_VALUES = 1 << 28
RATIO_FLOOR = 1 << 24  # signals this small are never called bombs
MAX_VALUES_PER_BYTE = 4096
ENVIRONMENT = "INR_MAX_VALUES"
BYTES_PER_VALUE = 45  # peak memory of an image encode per decoded value, measured (bench/RESULTS.md)


def max_values() -> tuple[int, bool]:
    """The limit in values, and whether the user set it (which lifts the per-byte rule)."""
    text = os.environ.get(ENVIRONMENT)
    if not text:
        return DEFAULT_MAX_VALUES, False
    try:
        value = int(float(text))
    except ValueError:
        raise SignalReadError(f"{ENVIRONMENT}={text!r} is not a number of values") from None
    if value < 1:
        raise SignalReadError(f"{ENVIRONMENT} must be positive")
    return value, True


def input_bytes(path: Path) -> int:
    """Bytes of a file, or of every file directly inside a folder (a folder of frames)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size


class DecodeBudget:
    """The values one input may decode to, checked against estimates and against actual output.

    Args:
        path: the input (a file, or a folder of frames).
    """

    def __init__(self, path: Path):
        self.name = path.name
        self.size = input_bytes(path)
        limit, stated = max_values()
        self.per_byte_rule = not stated and limit > RATIO_FLOOR
        by_size = max(RATIO_FLOOR, MAX_VALUES_PER_BYTE * self.size)
        self.limit = min(limit, by_size) if self.per_byte_rule else limit
        self.used = 0

    def expect(self, values: int, what: str) -> None:
        """Refuse before decoding when the headers' own estimate is over the limit.

        ``what`` says where the estimate comes from, e.g. ``"12000×12000 pixels × 3 channels"``."""
        if values > self.limit:
            raise SignalReadError(self._message(f"its header says {what} = {values:,} values", values))

    def take(self, values: int, what: str = "") -> None:
        """Count ``values`` just decoded; refuse once the running total passes the limit."""
        self.used += values
        if self.used > self.limit:
            detail = f" ({what})" if what else ""
            raise SignalReadError(self._message(f"it decodes to more than {self.limit:,} values{detail}", self.used))

    def _message(self, claim: str, values: int) -> str:
        if self.per_byte_rule and values > RATIO_FLOOR and values > MAX_VALUES_PER_BYTE * self.size:
            rule = (f"more than {MAX_VALUES_PER_BYTE:,} values per byte of a {self.size:,}-byte file "
                    f"looks like a decompression bomb")
        else:
            rule = f"over inr's limit of {self.limit:,} values"
        return (f"{self.name}: {claim}; {rule}. To read it anyway, set {ENVIRONMENT}={values} (encoding "
                f"needs about {BYTES_PER_VALUE} bytes of memory per value: {values * BYTES_PER_VALUE / 2 ** 30:.1f} GiB)")
