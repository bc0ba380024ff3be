"""Bad and hostile signal files: refused with one clear line before any large allocation,
or handled correctly."""

import struct
import zlib
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from inrcli.errors import SignalReadError
from inrcli.signals import read_signal
from tests.conftest import invoke


def png_with_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width × height`` RGB pixels but holds almost no data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


def test_decompression_bomb_header_is_refused_before_decoding(tmp_path: Path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_with_header(65000, 65000))
    with pytest.raises(SignalReadError, match="megapixels"):
        read_signal(str(path))


def test_bomb_through_the_cli_is_one_line(runner, tmp_path: Path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_with_header(65000, 65000))
    result = invoke(runner, "encode", path, "-o", tmp_path / "x.safetensors")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "megapixels" in result.stderr
    assert not (tmp_path / "x.safetensors").exists()


def test_one_pixel_image_encodes_and_decodes(runner, tmp_path: Path):
    iio.imwrite(tmp_path / "dot.png", np.array([[[200, 100, 50]]], dtype=np.uint8))
    model = tmp_path / "dot.safetensors"
    assert invoke(runner, "encode", tmp_path / "dot.png", "-o", model, "--steps", "50", "-q").exit_code == 0
    assert invoke(runner, "decode", model, "-o", tmp_path / "big.png", "--size", "8x8", "-q").exit_code == 0
    assert iio.imread(tmp_path / "big.png").shape == (8, 8, 3)


def test_decode_never_overwrites_its_input(runner, encoded_tiny: Path):
    before = encoded_tiny.read_bytes()
    result = invoke(runner, "decode", encoded_tiny, "-o", encoded_tiny, "--format", "png", "--force")
    assert result.exit_code == 2 and "input" in result.stderr
    assert encoded_tiny.read_bytes() == before


def test_truncated_png_is_refused(tmp_path: Path):
    iio.imwrite(tmp_path / "a.png", np.zeros((64, 64, 3), np.uint8) + 7)
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(SignalReadError):
        read_signal(str(tmp_path / "cut.png"))
