"""Volumes: .npy, TIFF stacks and NIfTI in and out; encode, decode at any size, crop in 3-D, scores."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import nibabel
import numpy as np
import pytest
import tifffile

from inrcli import api, fileformat
from inrcli.errors import SignalReadError
from inrcli.signals import read_signal, write_signal
from tests.conftest import invoke

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def synthetic_volume(depth: int = 12, height: int = 10, width: int = 8) -> np.ndarray:
    """A smooth pattern with a bright box: ``(D, H, W)`` float32."""
    z, y, x = np.meshgrid(*(np.linspace(-1, 1, n) for n in (depth, height, width)), indexing="ij")
    volume = np.sin(2 * z) + np.cos(3 * y) * x
    volume[2:5, 3:6, 2:4] += 1.5
    return volume.astype(np.float32)


@pytest.fixture(scope="module")
def volume_inr():
    signal = read_signal(str(_save_npy(Path(__import__("tempfile").mkdtemp()), synthetic_volume())))
    return api.encode(signal, api.EncodeOptions(model_options={"partitions": (2, 2, 2)}, params=8000, steps=200)), signal


def _save_npy(folder: Path, array: np.ndarray) -> Path:
    path = folder / "v.npy"
    np.save(path, array)
    return path


@pytest.mark.parametrize("ext,dtype", [("npy", "float32"), ("npy", "int16"), ("tif", "uint16"), ("nii.gz", "int16"),
                                       ("nii", "float32")])
def test_every_format_reads_back_what_it_wrote(tmp_path: Path, ext: str, dtype: str):
    array = (synthetic_volume() * 100).astype(dtype)
    source = tmp_path / f"in.{ext}"
    if ext == "npy":
        np.save(source, array)
    elif ext == "tif":
        tifffile.imwrite(source, array)
    else:
        nibabel.save(nibabel.Nifti1Image(array, np.diag([0.5, 0.7, 2.0, 1.0])), str(source))
    signal = read_signal(str(source))
    assert signal.modality == "volume" and signal.shape == array.shape and signal.info["dtype"] == dtype
    out = tmp_path / f"out.{ext}"
    write_signal(signal, out, ext, {})
    again = read_signal(str(out))
    assert np.array_equal(again.values, signal.values)
    if ext.startswith("nii"):
        assert again.info["spacing"] == pytest.approx([0.5, 0.7, 2.0])


def test_a_multi_page_tiff_is_a_volume_and_a_single_page_an_image(tmp_path: Path):
    tifffile.imwrite(tmp_path / "stack.tif", (synthetic_volume() * 50 + 100).astype(np.uint16))
    iio.imwrite(tmp_path / "page.tif", np.zeros((6, 5, 3), np.uint8))
    assert read_signal(str(tmp_path / "stack.tif")).modality == "volume"
    assert read_signal(str(tmp_path / "page.tif")).modality == "image"
    assert read_signal(str(tmp_path / "stack.tif"), as_kind="volume").shape == (12, 10, 8)


def test_hostile_npy_files_are_refused_without_allocating(tmp_path: Path):
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(SignalReadError):
        read_signal(str(objects))
    huge = tmp_path / "huge.npy"  # a header claiming 8 TB with no data behind it
    with open(huge, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False,
                                                      "shape": (20000, 20000, 5000)})
    with pytest.raises(SignalReadError):
        read_signal(str(huge))
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros((4, 4), np.float32))
    with pytest.raises(SignalReadError, match="volume is a"):
        read_signal(str(flat))


def test_encode_learns_the_volume_and_decodes_at_any_size(volume_inr):
    inr, signal = volume_inr
    scores = api.evaluate(signal, inr)
    assert scores["psnr"] > 22, scores
    assert set(scores) >= {"psnr", "ssim", "slice_psnr", "worst_slice", "worst_slice_psnr", "convention"}
    plan = api.plan_decode(inr, {"size": "20x15x9"})
    assert plan.shape == (20, 15, 9)
    assert api.decode(inr, plan).values.shape == (20, 15, 9, 1)
    assert api.plan_decode(inr, {"scale": 0.5}).shape == (6, 5, 4)


def test_a_3d_crop_decodes_exactly_to_the_full_decode_block(volume_inr):
    inr, _ = volume_inr
    cropped = api.crop(inr, "1:2,0:1,0:2")
    stored = fileformat.from_bytes(fileformat.to_bytes(cropped))
    full, part = api.decode(inr).values, api.decode(stored).values
    window = stored.signal.window
    assert np.array_equal(full[tuple(slice(lo, hi) for lo, hi in window)], part)
    assert len(fileformat.to_bytes(cropped)) < 0.75 * len(fileformat.to_bytes(inr))


def test_a_decode_at_another_resolution_keeps_the_world_extent(tmp_path: Path):
    affine = np.array([[2.0, 0, 0, -10], [0, 3.0, 0, 5], [0, 0, 4.0, 1], [0, 0, 0, 1]])
    source = tmp_path / "scan.nii.gz"
    nibabel.save(nibabel.Nifti1Image((synthetic_volume() * 100).astype(np.int16), affine), str(source))
    inr = api.encode(read_signal(str(source)), api.EncodeOptions(params=4000, steps=2))
    plan = api.plan_decode(inr, {"scale": 2})
    new = np.array(plan.info["affine"])
    # the first voxel's corner and the last voxel's far corner stay where they were
    old_corner = affine @ [-0.5, -0.5, -0.5, 1]
    assert np.allclose(new @ [-0.5, -0.5, -0.5, 1], old_corner)
    far = np.array([*synthetic_volume().shape, 0]) - 0.5
    assert np.allclose(new @ [*(2 * far[:3] + 0.5), 1], affine @ [*far[:3], 1])
    assert plan.info["spacing"] == pytest.approx([1.0, 1.5, 2.0])


def test_cli_round_trip_on_the_bundled_phantom(runner, tmp_path: Path):
    model = tmp_path / "phantom.safetensors"
    result = invoke(runner, "encode", SAMPLES / "phantom.nii.gz", "-o", model, "--steps", "20", "--params", "20000",
                    "-q")
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "half.nii.gz"
    result = invoke(runner, "decode", model, "-o", out, "--scale", "0.5", "-q")
    assert result.exit_code == 0, result.stderr
    half = nibabel.load(str(out))
    assert half.shape == (32, 32, 32) and half.get_data_dtype() == np.int16
    assert [float(z) for z in half.header.get_zooms()] == pytest.approx([6.0, 6.0, 6.0])
    slices = tmp_path / "slices"
    slices.mkdir()
    result = invoke(runner, "decode", model, "-o", slices / "%02d.png", "-q")
    assert result.exit_code == 0, result.stderr
    assert len(list(slices.glob("*.png"))) == 64
    result = invoke(runner, "eval", SAMPLES / "phantom.nii.gz", model)
    assert result.exit_code == 0 and "PSNR" in result.stdout and "SSIM" in result.stdout, result.stdout
    result = invoke(runner, "info", model)
    assert "volume, 64×64×64 voxels" in result.stdout, result.stdout
    result = invoke(runner, "decode", model, "-o", tmp_path / "x.npy", "--rate", "8000")
    assert result.exit_code == 2 and "--rate does not apply to a volume" in result.stderr
