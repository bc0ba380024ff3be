"""Interrupting encode or decode leaves the target untouched and no temporary files."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import default_sigint, invoke


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "inrcli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=default_sigint)


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_during_encode_keeps_the_old_output(image_file: Path, tmp_path: Path, signum, code):
    out = tmp_path / "x.safetensors"
    out.write_bytes(b"previous")
    proc = start("encode", str(image_file), "-o", str(out), "--force", "--steps", "10000000", "--params", "3000")
    try:
        first = proc.stderr.readline()  # stderr is no terminal: a plain progress line once training runs
        assert first.startswith(b"encoding: step"), first
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    stderr = first + stderr
    assert proc.returncode == code, stderr
    assert b"inr: error: interrupted" in stderr and b"Traceback" not in stderr
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.png", "x.safetensors"]


def test_sigterm_during_a_large_decode_writes_nothing(encoded_tiny: Path, tmp_path: Path):
    out = tmp_path / "big.png"
    proc = start("decode", str(encoded_tiny), "-o", str(out), "--size", "6000x6000", "-q")
    time.sleep(4)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert list(tmp_path.iterdir()) == []


def test_target_psnr_stops_early(runner, image_file: Path, tmp_path: Path):
    result = invoke(runner, "encode", image_file, "-o", tmp_path / "t.safetensors", "--target-psnr", "20",
                    "--steps", "5000", "--params", "3000", "--json", "-q")
    summary = json.loads(result.stdout)
    assert summary["stopped_by"] == "target_psnr"
    assert summary["psnr"] >= 20 and summary["steps"] < 5000
