"""Audio through the same commands: soundfile I/O, any rate, crops in time, PSNR/SNR."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from inrcli import api, fileformat
from inrcli.errors import SignalReadError
from inrcli.signals import read_signal, write_signal
from tests.conftest import DATA, invoke, needs_data

RATE = 8000


def tone(samples: int = 800, channels: int = 2) -> np.ndarray:
    """A quiet two-channel chord: ``(samples, channels)`` float32 peaking at 0.5."""
    t = np.arange(samples) / RATE
    waves = [np.sin(2 * np.pi * 220 * (k + 1) * t) + 0.3 * np.sin(2 * np.pi * 660 * t) for k in range(channels)]
    audio = np.stack(waves, -1)
    return (0.5 * audio / np.abs(audio).max()).astype(np.float32)


@pytest.fixture
def wav_file(tmp_path: Path) -> Path:
    path = tmp_path / "tone.wav"
    soundfile.write(path, tone(), RATE, subtype="FLOAT")
    return path


@pytest.fixture(scope="module")
def audio_inr(tmp_path_factory) -> fileformat.InrFile:
    folder = tmp_path_factory.mktemp("audio")
    soundfile.write(folder / "tone.wav", tone(), RATE, subtype="FLOAT")
    signal = read_signal(str(folder / "tone.wav"))
    return api.encode(signal, api.EncodeOptions(model_options={"partitions": (4,)}, params=4000, steps=300, lr=2e-3))


def test_read_keeps_rate_channels_and_level(wav_file: Path):
    signal = read_signal(str(wav_file))
    assert signal.shape == (800,) and signal.channels == 2 and signal.info["rate"] == RATE
    assert np.abs(signal.values).max() == pytest.approx(0.5, abs=1e-6)


@pytest.mark.parametrize("ext, subtype", [("wav", "PCM_16"), ("wav", "FLOAT"), ("flac", "PCM_24"), ("ogg", "VORBIS")])
def test_formats_round_trip(tmp_path: Path, ext: str, subtype: str):
    path = tmp_path / f"a.{ext}"
    soundfile.write(path, tone(4000), RATE, subtype=subtype)
    signal = read_signal(str(path))
    write_signal(signal, tmp_path / f"b.{ext}", ext, {})
    back = read_signal(str(tmp_path / f"b.{ext}"))
    assert back.shape == signal.shape and back.info["rate"] == RATE
    if ext == "ogg":  # lossy: the same sound, not the same samples
        assert api.evaluate(signal, back)["snr"] > 15
    else:
        assert np.abs(back.values - signal.values).max() < 1e-4


def test_encode_learns_and_restores_the_level(audio_inr):
    decoded = api.decode(audio_inr)
    assert np.abs(decoded.values).max() == pytest.approx(0.5, abs=0.1)  # not the network's ±1
    assert audio_inr.training["psnr"] > 25


@pytest.mark.parametrize("rate, length", [(16000, 1600), (4000, 400), (44100, 4410)])
def test_decode_at_any_rate_keeps_the_duration(audio_inr, rate: int, length: int):
    plan = api.plan_decode(audio_inr, {"rate": rate})
    shape, info = plan.shape, plan.info
    assert shape == (length,) and info["rate"] == rate
    assert api.decode(audio_inr, plan).values.shape == (length, 2)


def test_time_crop_is_exact_and_smaller(audio_inr):
    cropped = api.crop(audio_inr, "1:3")
    (lo, hi), = cropped.signal.window
    assert (lo, hi) == (200, 600)
    full, part = api.decode(audio_inr).values, api.decode(cropped).values
    assert np.array_equal(full[lo:hi], part)
    assert cropped.model.param_count()["local"] * 2 == audio_inr.model.param_count()["local"]


def test_eval_psnr_and_snr_follow_the_stated_convention(wav_file: Path):
    reference = read_signal(str(wav_file))
    noisy = reference.values + np.random.default_rng(0).normal(0, 0.01, reference.values.shape).astype(np.float32)
    from inrcli.signals import Signal

    scores = api.evaluate(reference, Signal("audio", noisy, reference.info))
    ref, cand = reference.values / 0.5, noisy / 0.5  # divided by the reference's largest magnitude
    assert scores["psnr"] == pytest.approx(10 * np.log10(1 / np.mean((ref - cand) ** 2)), abs=1e-3)
    assert scores["snr"] == pytest.approx(10 * np.log10(np.sum(ref ** 2) / np.sum((ref - cand) ** 2)), abs=1e-3)


def test_cli_round_trip(runner, wav_file: Path, tmp_path: Path):
    model = tmp_path / "tone.safetensors"
    result = invoke(runner, "encode", wav_file, "-o", model, "--partitions", "4", "--params", "4000", "--steps", "20",
                    "--json", "-q")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["partitions"] == [4]
    out = tmp_path / "up.flac"
    decoded = invoke(runner, "decode", model, "-o", out, "--rate", "16000", "--json", "-q")
    assert decoded.exit_code == 0, decoded.stderr
    assert json.loads(decoded.stdout)["rate"] == 16000
    info = soundfile.info(out)
    assert info.samplerate == 16000 and info.frames == 1600 and info.channels == 2
    scores = json.loads(invoke(runner, "eval", wav_file, model, "--json").stdout)
    assert {"psnr", "snr"} <= set(scores)
    assert invoke(runner, "crop", model, "--region", "0:2", "-o", tmp_path / "c.safetensors", "-q").exit_code == 0
    assert invoke(runner, "decode", model, "-o", tmp_path / "x.wav", "--size", "3x3", "-q").exit_code == 2


def test_zero_length_and_corrupt_audio_are_refused(tmp_path: Path):
    soundfile.write(tmp_path / "empty.wav", np.zeros((0, 1), np.float32), RATE)
    with pytest.raises(SignalReadError, match="no samples"):
        read_signal(str(tmp_path / "empty.wav"))
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
    with pytest.raises(SignalReadError):
        read_signal(str(tmp_path / "bad.wav"))


@needs_data
def test_bach_reads_as_float_wav():
    signal = read_signal(str(DATA / "audio" / "gt_bach.wav"))
    assert signal.info["rate"] == 44100 and signal.shape == (308207,) and signal.info["subtype"] == "FLOAT"
