"""Regenerate samples/chime.wav: a 2-second synthetic chime (three decaying bell partials
and a short arpeggio), 22,050 Hz mono 16-bit.  Made for this project; CC0."""

from pathlib import Path

import numpy as np
import soundfile

RATE = 22050


def chime() -> np.ndarray:
    t = np.arange(2 * RATE) / RATE
    out = np.zeros_like(t)
    for start, pitch in [(0.0, 523.25), (0.25, 659.25), (0.5, 783.99), (0.75, 1046.5)]:
        local = np.clip(t - start, 0, None)
        envelope = (t >= start) * np.exp(-3.0 * local)
        for ratio, weight in [(1.0, 1.0), (2.76, 0.4), (5.40, 0.15)]:
            out += weight * envelope * np.sin(2 * np.pi * pitch * ratio * local)
    return (0.8 * out / np.abs(out).max()).astype(np.float32)


if __name__ == "__main__":
    soundfile.write(Path(__file__).with_name("chime.wav"), chime(), RATE, subtype="PCM_16")
