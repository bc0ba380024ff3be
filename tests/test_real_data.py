"""The shared photos, briefly: skipped when ../shared/data is absent."""

from pathlib import Path

import numpy as np

from inrcli import api, fileformat
from inrcli.signals import read_signal
from inrcli.signals.image import quantize
from tests.conftest import DATA, needs_data


@needs_data
def test_astronaut_16x16_crop_is_exact_and_small(tmp_path: Path):
    signal = read_signal(str(DATA / "images" / "astronaut.png"))
    inr = api.encode(signal, api.EncodeOptions(model_options={"partitions": (16, 16)}, steps=3))
    assert 180_000 <= inr.model.param_count()["total"] <= 200_000  # width 14 is the widest that fits
    full_bytes = len(fileformat.to_bytes(inr))
    cropped = api.crop(inr, "0:8,0:8")
    assert len(fileformat.to_bytes(cropped)) <= 0.4 * full_bytes
    full = quantize(api.decode(inr).values, 8)
    part = quantize(api.decode(fileformat.from_bytes(fileformat.to_bytes(cropped))).values, 8)
    assert part.shape == (256, 256, 3)
    assert np.array_equal(full[:256, :256], part)


@needs_data
def test_grayscale_photo_encodes_to_one_channel():
    signal = read_signal(str(DATA / "images" / "camera.png"))
    assert signal.channels == 1
    inr = api.encode(signal, api.EncodeOptions(steps=2, params=20_000))
    assert api.decode(inr, (64, 64)).values.shape == (64, 64, 1)
