"""A picture of where an INR is weak: per-pixel error, the partition grid, each partition's PSNR."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from inrcli import metrics

# Heat colours from black through red and yellow to white, as control points of a ramp.
RAMP = np.array([[0, 0, 0], [120, 0, 40], [230, 40, 0], [255, 200, 0], [255, 255, 255]], dtype=np.float64)
MIN_CELL_PIXELS = 44  # partitions are enlarged to at least this size so their PSNR is legible
MAX_SIDE = 4096


def render(reference: np.ndarray, candidate: np.ndarray, peak: float,
           edges: tuple[tuple[int, ...], tuple[int, ...]] | None) -> np.ndarray:
    """Error map of two ``(H, W, C)`` integer images as an ``(H', W', 3)`` uint8 picture.

    Colour shows the mean absolute error over channels (white = the 99.5th percentile or
    more).  With ``edges`` (row and column partition edges in pixels of these images), the
    grid is drawn and every partition is labelled with its PSNR in dB.
    """
    error = np.abs(reference.astype(np.float64) - candidate.astype(np.float64)).mean(axis=-1)
    top = max(float(np.percentile(error, 99.5)), 1e-9)
    picture = _heat(np.clip(error / top, 0.0, 1.0))
    zoom = 1
    if edges is not None:
        smallest = min(min(np.diff(e)) for e in edges)
        zoom = max(1, min(math.ceil(MIN_CELL_PIXELS / smallest), MAX_SIDE // max(error.shape)))
    image = Image.fromarray(picture).resize((error.shape[1] * zoom, error.shape[0] * zoom), Image.NEAREST)
    if edges is not None:
        _draw_grid(image, reference, candidate, peak, edges, zoom)
    return np.asarray(image)


def _heat(t: np.ndarray) -> np.ndarray:
    position = t * (len(RAMP) - 1)
    low = np.minimum(position.astype(int), len(RAMP) - 2)
    frac = (position - low)[..., None]
    return np.rint(RAMP[low] * (1 - frac) + RAMP[low + 1] * frac).astype(np.uint8)


def _draw_grid(image: Image.Image, reference: np.ndarray, candidate: np.ndarray, peak: float,
               edges: tuple[tuple[int, ...], tuple[int, ...]], zoom: int) -> None:
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    rows, cols = edges
    for r in rows[1:-1]:
        draw.line([(0, r * zoom), (image.width, r * zoom)], fill=(0, 200, 255), width=1)
    for c in cols[1:-1]:
        draw.line([(c * zoom, 0), (c * zoom, image.height)], fill=(0, 200, 255), width=1)
    for r0, r1 in zip(rows, rows[1:]):
        for c0, c1 in zip(cols, cols[1:]):
            value = metrics.psnr(reference[r0:r1, c0:c1], candidate[r0:r1, c0:c1], peak)
            text = "inf" if math.isinf(value) else f"{value:.1f}"
            draw.text((c0 * zoom + 2, r0 * zoom + 2), text, fill=(255, 255, 255), font=font,
                      stroke_width=1, stroke_fill=(0, 0, 0))
