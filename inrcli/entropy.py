"""Entropy coding of quantised weights: rANS (constriction's ``AnsCoder``) against stored histograms.

One chunk codes a sequence of symbol arrays, each against its own categorical prior given as
integer counts. The bytes are constriction's: the coder's 32-bit words, little-endian. A prior's
fixed-point CDF is constriction's "fast" quantisation of the counts with 24 bits of precision,
``cdf[i] = floor(c_i · (2^24 − n) / total) + i`` (``c_i`` the counts before symbol ``i``, all in
float64), written out in :func:`fixed_point_cdf` so that other decoders (docs/FORMAT.md, the
viewer) can reproduce it exactly.

Decoding allocates what the caller says each array holds (the model's shapes), never what the
bytes claim; a chunk whose bytes are not used up exactly is refused.
"""

from __future__ import annotations

import numpy as np

PRECISION = 24
"""Bits of the fixed-point probabilities (constriction's default for its Python models)."""


class ChunkError(ValueError):
    """Coded bytes that do not decode to what the file's metadata says they hold."""


def _model(counts: np.ndarray):
    import constriction

    if counts.ndim != 1 or not 2 <= len(counts) < (1 << PRECISION) - 1 or not counts.sum() > 0:
        raise ChunkError("a prior needs 2 or more symbols and a positive total count")
    return constriction.stream.model.Categorical(counts.astype(np.float64), perfect=False)


def encode(parts: list[tuple[np.ndarray, np.ndarray]]) -> bytes:
    """``[(symbols (n,) ints in 0 … len(counts)−1, counts (len,)), …]`` → one chunk of bytes,
    decoded in the same order. ANS is a stack, so the parts are pushed last first."""
    import constriction

    coder = constriction.stream.stack.AnsCoder()
    for symbols, counts in reversed(parts):
        if symbols.size:
            coder.encode_reverse(np.ascontiguousarray(symbols, dtype=np.int32).ravel(), _model(counts))
    return coder.get_compressed().astype("<u4").tobytes()


def decode(data: bytes, layout: list[tuple[int, np.ndarray]]) -> list[np.ndarray]:
    """One chunk's bytes and ``[(symbols to read, counts), …]`` → the symbol arrays (int64).

    Raises :class:`ChunkError` for bytes that are not whole words, end in a zero word (never
    written), or are not used up exactly by the symbols the layout names."""
    import constriction

    if len(data) % 4:
        raise ChunkError(f"a coded chunk of {len(data)} bytes is not whole 32-bit words")
    try:
        coder = constriction.stream.stack.AnsCoder(np.frombuffer(data, "<u4").astype(np.uint32))
    except ValueError as exc:
        raise ChunkError(f"a coded chunk is malformed ({exc})") from None
    out = []
    for count, counts in layout:
        symbols = coder.decode(_model(counts), count) if count else np.zeros(0, np.int32)
        out.append(np.asarray(symbols, dtype=np.int64))
    if not coder.is_empty():
        raise ChunkError("a coded chunk holds more bytes than its weights")
    return out


def fixed_point_cdf(counts: np.ndarray) -> np.ndarray:
    """The prior constriction builds from ``counts`` (n,): left cumulative frequencies (n + 1,)
    out of 2^24, every symbol at least 1 (documentation and tests; coding uses constriction)."""
    counts = counts.astype(np.float64)
    scale = ((1 << PRECISION) - len(counts)) / counts.sum()
    cumulative = np.concatenate([[0.0], np.cumsum(counts)[:-1]])  # exact: integer counts below 2^53
    return np.append(np.floor(cumulative * scale).astype(np.int64) + np.arange(len(counts)), 1 << PRECISION)


def histogram(symbols: np.ndarray, size: int, limit: int = 65535) -> np.ndarray:
    """Counts of ``symbols`` over ``0 … size−1``, scaled so the largest is ``limit`` (uint16 in the
    file); a symbol that occurs keeps a count of at least 1."""
    counts = np.bincount(symbols.ravel(), minlength=size).astype(np.float64)
    scaled = np.where(counts > 0, np.maximum(1, np.rint(counts * limit / max(counts.max(), 1))), 0)
    return scaled.astype(np.int64)
