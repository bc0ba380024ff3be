"""Files whose headers lie about their decoded size: each reader refuses them from the header or
stops while decoding (inrcli/limits.py), and the signal fuzzer finds nothing (issue 12)."""

from __future__ import annotations

import json
import resource
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from inrcli.errors import SignalReadError
from inrcli.signals import read_signal
from inrcli.limits import DecodeBudget
from tests.conftest import invoke

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import fuzz_signals  # noqa: E402 - the fuzzer's builders of lying files are the attacks here


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_16_bit_png_whose_data_inflates_past_its_header_is_refused(tmp_path: Path):
    """pypng inflates each IDAT chunk whole: 256 MB of zeros behind a 64×48 header."""
    path = tmp_path / "bomb16.png"
    path.write_bytes(fuzz_signals._png(64, 48, 16, 6, fuzz_signals._zeros_deflated(256 << 20)))
    before = _peak_rss_mb()
    with pytest.raises(SignalReadError, match="inflate past the 24,688 bytes its header declares"):
        read_signal(str(path))
    assert _peak_rss_mb() - before < 100


def test_a_tiny_jpeg_claiming_12000_squared_is_refused_from_its_header(tmp_path: Path):
    from PIL import Image

    Image.new("RGB", (16, 16), "red").save(tmp_path / "a.jpg")
    data = bytearray((tmp_path / "a.jpg").read_bytes())
    marker = data.find(b"\xff\xc0")
    data[marker + 5:marker + 9] = struct.pack(">HH", 12000, 12000)
    (tmp_path / "big.jpg").write_bytes(bytes(data))
    with pytest.raises(SignalReadError, match="12000×12000 pixels × 3 channels = 432,000,000 values.*bomb"):
        read_signal(str(tmp_path / "big.jpg"))


def test_an_animated_gif_stops_at_the_limit_while_decoding(tmp_path: Path, monkeypatch):
    """No GIF header states its frame count: frames are counted as they are decoded."""
    path = tmp_path / "many.gif"
    path.write_bytes(fuzz_signals._animated_gif(200, 100, 40))
    monkeypatch.setenv("INR_MAX_VALUES", "1000000")  # 16 frames of 200×100×3
    with pytest.raises(SignalReadError, match=r"decodes to more than 1,000,000 values \(17 frames"):
        read_signal(str(path))
    monkeypatch.setenv("INR_MAX_VALUES", "3000000")
    assert read_signal(str(path)).shape == (40, 100, 200)


def test_a_raw_h264_stream_without_duration_stops_at_the_limit(tmp_path: Path, monkeypatch):
    import imageio_ffmpeg

    path = tmp_path / "raw.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                    "color=c=gray:s=64x48:r=25:d=4", "-c:v", "libx264", "-f", "h264", str(path)], check=True)
    monkeypatch.setenv("INR_MAX_VALUES", str(64 * 48 * 3 * 20))
    with pytest.raises(SignalReadError, match=r"more than 184,320 values \(21 frames of 64×48"):
        read_signal(str(path))


def test_audio_headers_that_claim_more_frames_than_the_file_holds(tmp_path: Path):
    sound = np.sin(np.arange(800) / 5.0).astype(np.float32)
    soundfile.write(str(tmp_path / "a.flac"), sound, 8000, subtype="PCM_16")
    data = bytearray((tmp_path / "a.flac").read_bytes())
    data[8 + 13] |= 0x0F  # STREAMINFO total samples: 2^36 - 1
    data[8 + 14:8 + 18] = b"\xff\xff\xff\xff"
    (tmp_path / "long.flac").write_bytes(bytes(data))
    with pytest.raises(SignalReadError, match="68,719,476,735 frames × 1 channels"):
        read_signal(str(tmp_path / "long.flac"))


def test_npz_members_are_checked_from_their_headers_and_unused_ones_never_read(tmp_path: Path):
    import trimesh

    mesh = trimesh.creation.icosphere(subdivisions=1)
    np.savez(tmp_path / "g.npz", points=mesh.vertices, faces=mesh.faces, target=mesh.vertices[:, :1])
    (tmp_path / "junk.npz").write_bytes(fuzz_signals._npz_with_member(tmp_path / "g.npz", "junk",
                                                                      (10 ** 12,), data=bytes(64)))
    assert read_signal(str(tmp_path / "junk.npz")).shape == (len(mesh.vertices),)
    (tmp_path / "lie.npz").write_bytes(fuzz_signals._npz_with_member(tmp_path / "g.npz", "target",
                                                                     (2_000_000_000, 4), data=bytes(64)))
    with pytest.raises(SignalReadError, match=r"target of shape \(2000000000, 4\) = 8,000,000,000 values"):
        read_signal(str(tmp_path / "lie.npz"))


def test_the_limit_is_stated_by_the_user_and_named_in_the_message(tmp_path: Path, monkeypatch):
    path = tmp_path / "x.bin"
    path.write_bytes(bytes(1000))
    budget = DecodeBudget(path)
    assert budget.limit == 1 << 24  # small files: the floor below which nothing is called a bomb
    monkeypatch.setenv("INR_MAX_VALUES", "5e9")
    assert DecodeBudget(path).limit == 5_000_000_000  # stated outright: the per-byte rule is lifted
    monkeypatch.setenv("INR_MAX_VALUES", "lots")
    with pytest.raises(SignalReadError, match="INR_MAX_VALUES='lots' is not a number"):
        DecodeBudget(path)


def test_a_video_too_slow_to_store_is_refused_before_training(runner, tmp_path: Path):
    """0.0005 fps: a file could not hold it (1e-3…1000 fps), so encode refuses it, not load."""
    import imageio_ffmpeg

    path = tmp_path / "slow.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                    "color=c=red:s=16x16:r=1:d=3", "-c:v", "libx264", "-r", "1/2000", str(path)], check=True)
    result = invoke(runner, "encode", path, "-o", tmp_path / "slow.safetensors", "--steps", "50")
    assert result.exit_code == 1 and "'fps' = 0.0005 is out of range" in result.stderr
    assert "step" not in result.stderr and not (tmp_path / "slow.safetensors").exists()


def test_the_signal_fuzzer_finds_nothing():
    """Every seed format, every lying header, and random mutants, each through ``inr encode`` in a
    forked child: one error line or a file that decodes; no crash, leftover or memory blow-up."""
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "fuzz_signals.py"), "--cases", "45", "--workers", "2"],
                            capture_output=True, text=True, timeout=900)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["failed"] == 0, summary["failures"]
    assert summary["cases"] == 45 and summary["encoded"] >= 15  # the valid seeds encode
    assert result.returncode == 0
