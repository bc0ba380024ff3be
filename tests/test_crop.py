"""Crop invariants: a real removal, proportional size, exact pixels."""

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import soundfile

from inrcli import api, fileformat
from inrcli.signals import read_signal
from inrcli.signals.image import quantize
from tests.conftest import invoke, synthetic_image


def test_cropped_decode_equals_the_region_of_the_full_decode(runner, tmp_path: Path):
    # a size that is not a multiple of the grid: partitions of unequal size
    iio.imwrite(tmp_path / "odd.png", synthetic_image(37, 29))
    model, cropped = tmp_path / "odd.safetensors", tmp_path / "crop.safetensors"
    assert invoke(runner, "encode", tmp_path / "odd.png", "-o", model, "--partitions", "5,4", "--params", "6000",
                  "--steps", "20", "-q").exit_code == 0
    assert invoke(runner, "crop", model, "--region", "1:4,2:4", "-o", cropped, "-q").exit_code == 0
    invoke(runner, "decode", model, "-o", tmp_path / "full.png", "-q")
    invoke(runner, "decode", cropped, "-o", tmp_path / "part.png", "-q")
    full, part = iio.imread(tmp_path / "full.png"), iio.imread(tmp_path / "part.png")
    inr = fileformat.load(cropped)
    (r0, r1), (c0, c1) = inr.signal.window
    assert part.shape == (r1 - r0, c1 - c0, 3)
    assert np.array_equal(full[r0:r1, c0:c1], part)


@pytest.mark.parametrize("samples, region", [(15435, "1:3"), (800, "1:2")])
def test_a_cropped_clip_decodes_to_exactly_the_full_decodes_samples(runner, tmp_path: Path, samples: int, region: str):
    """Bit for bit, in float32 before any file format: a partition's samples are cut into the same
    pieces in both decodes (a sample centre gets no weight from its neighbour however its position
    rounds), and a crop small enough to be one piece is not evaluated by another kernel (800
    samples in 4 partitions: one piece of 200)."""
    rate = 44100
    clip = 0.5 * np.sin(2 * np.pi * 440 * np.arange(samples) / rate)
    soundfile.write(tmp_path / "tone.wav", clip.astype(np.float32), rate)
    model, cut = tmp_path / "m.safetensors", tmp_path / "cut.safetensors"
    assert invoke(runner, "encode", tmp_path / "tone.wav", "-o", model, "--steps", "5", "--params", "3000",
                  "--partitions", "4", "-q").exit_code == 0
    assert invoke(runner, "crop", model, "--region", region, "-o", cut, "-q").exit_code == 0
    full, part = fileformat.load(model), fileformat.load(cut)
    (lo, hi), = part.signal.window
    assert np.array_equal(api.decode(part).values, api.decode(full).values[lo:hi])


def test_crop_removes_local_weights_in_proportion(encoded_tiny: Path):
    inr = fileformat.load(encoded_tiny)
    cropped = api.crop(inr, "0:3,0:2")  # half of the 3×4 partitions
    counts, full = cropped.model.param_count(), inr.model.param_count()
    assert counts["local"] * 2 == full["local"]
    assert counts["global"] == full["global"] and counts["merge"] == full["merge"]
    assert sum(t.numel() for t in cropped.model.state_dict().values()) == counts["total"]
    for model_file, params in ((fileformat.to_bytes(cropped), counts["total"]), (encoded_tiny.read_bytes(), full["total"])):
        header_bytes = 8 + int.from_bytes(model_file[:8], "little")
        assert len(model_file) - header_bytes == 4 * params  # float32 weights, nothing else


def test_crop_of_crop_matches_direct_crop(encoded_tiny: Path):
    inr = fileformat.load(encoded_tiny)
    twice = api.crop(api.crop(inr, "0:3,1:4"), "1:2,2:4")
    once = api.crop(inr, "1:2,2:4")
    assert np.array_equal(api.decode(twice).values, api.decode(once).values)


def test_eval_of_a_cropped_inr_compares_the_matching_region(encoded_tiny: Path):
    reference = read_signal(str(encoded_tiny.with_suffix(".png")))
    inr = fileformat.load(encoded_tiny)
    cropped = api.crop(inr, "1:3,1:3")
    scores = api.evaluate(reference, cropped)
    (r0, r1), (c0, c1) = cropped.signal.window
    assert scores["region"] == [[r0, r1], [c0, c1]]
    decoded = quantize(api.decode(cropped).values, 8)
    from inrcli.metrics import psnr

    assert scores["psnr"] == round(psnr(quantize(reference.values[r0:r1, c0:c1], 8), decoded, 255), 4)
