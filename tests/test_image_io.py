from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from inrcli.errors import SignalReadError, UsageError
from inrcli.signals import read_signal, signal_kind, write_signal
from inrcli.signals.base import Signal
from tests.conftest import synthetic_image


def test_rgb_png_round_trip_is_lossless(tmp_path: Path):
    pixels = synthetic_image(9, 11)
    iio.imwrite(tmp_path / "a.png", pixels)
    signal = read_signal(str(tmp_path / "a.png"))
    assert signal.shape == (9, 11) and signal.channels == 3 and signal.info["bit_depth"] == 8
    write_signal(signal, tmp_path / "b.png", "png", {})
    assert np.array_equal(iio.imread(tmp_path / "b.png"), pixels)


@pytest.mark.parametrize("mode, channels", [("L", 1), ("LA", 2), ("RGBA", 4), ("P", 3), ("CMYK", 3), ("1", 1)])
def test_image_modes_are_read_with_the_documented_channels(tmp_path: Path, mode: str, channels: int):
    source = Image.fromarray(synthetic_image(10, 10)).convert(mode)
    suffix = "jpg" if mode == "CMYK" else "png"
    source.save(tmp_path / f"a.{suffix}")
    signal = read_signal(str(tmp_path / f"a.{suffix}"))
    assert signal.channels == channels
    assert 0.0 <= signal.values.min() and signal.values.max() <= 1.0


def test_sixteen_bit_png_is_kept_at_sixteen_bits(tmp_path: Path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 65536, (6, 7, 3), dtype=np.uint16)
    signal = Signal("image", pixels.astype(np.float32) / 65535, {"bit_depth": 16})
    write_signal(signal, tmp_path / "a.png", "png", {})
    back = read_signal(str(tmp_path / "a.png"))
    assert back.info["bit_depth"] == 16
    assert np.array_equal(np.rint(back.values * 65535).astype(np.uint16), pixels)


def test_sixteen_bit_tiff_and_eight_bit_only_formats(tmp_path: Path):
    signal = Signal("image", np.linspace(0, 1, 48, dtype=np.float32).reshape(4, 4, 3), {"bit_depth": 8})
    write_signal(signal, tmp_path / "a.tiff", "tiff", {"bit_depth": 16})
    assert iio.imread(tmp_path / "a.tiff").dtype == np.uint16
    with pytest.raises(UsageError):
        write_signal(signal, tmp_path / "a.jpg", "jpg", {"bit_depth": 16})


def test_jpeg_output_flattens_alpha_over_white(tmp_path: Path):
    values = np.zeros((8, 8, 4), dtype=np.float32)  # fully transparent black
    write_signal(Signal("image", values, {"bit_depth": 8}), tmp_path / "a.jpg", "jpg", {})
    assert iio.imread(tmp_path / "a.jpg").min() > 240


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n garbage", b"not an image at all"])
def test_corrupt_images_raise_signal_read_error(tmp_path: Path, content: bytes):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(SignalReadError):
        read_signal(str(path))


def test_empty_file_and_directory_are_refused(tmp_path: Path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(SignalReadError, match="empty"):
        read_signal(str(tmp_path / "empty.png"))
    (tmp_path / "empty.png").unlink()
    with pytest.raises(SignalReadError, match="no image frames"):  # a folder is read as video frames
        read_signal(str(tmp_path))


def test_unknown_extension_is_sniffed_from_the_bytes(tmp_path: Path):
    iio.imwrite(tmp_path / "a.png", synthetic_image(5, 5))
    (tmp_path / "a.png").rename(tmp_path / "photo.data")
    assert read_signal(str(tmp_path / "photo.data")).shape == (5, 5)


def test_default_budget_grows_with_the_image():
    image = signal_kind("image")
    def budget(height, width):
        return image.default_budget(Signal("image", np.zeros((height, width, 3), np.float32)))

    assert budget(512, 512) == 200_000
    assert budget(1024, 1024) > budget(512, 512)
