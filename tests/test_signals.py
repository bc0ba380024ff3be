"""The registry of kinds and formats: ordered readers, "not my file", writers by kind, sniffing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inrcli.errors import SignalReadError, UsageError
from inrcli.signals import (KINDS, READERS, WRITERS, format_of, output_format, read_signal, signal_kind, sniff,
                            writer_for)
from inrcli.signals.base import MetricSpec


def test_every_registered_kind_loads_and_describes_itself():
    for name in KINDS:
        kind = signal_kind(name)
        assert kind.name == name and kind.default_output in WRITERS
        assert name in WRITERS[kind.default_output]
        assert kind.headline in kind.metric_specs and kind.preset(kind.default_arch).lr > 0
        assert all(isinstance(spec, MetricSpec) for spec in kind.metric_specs.values())


def test_every_reader_and_writer_names_a_registered_kind():
    for table in (READERS, WRITERS):
        assert all(name in KINDS for names in table.values() for name in names)


def test_a_refusing_reader_passes_the_file_to_the_next(tmp_path: Path):
    """tif is read by images first; a stack is refused there (NotMyFile) and read as a volume."""
    import tifffile

    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((3, 4, 5), np.uint8), photometric="minisblack")
    assert READERS["tif"][0] == "image" and read_signal(str(tmp_path / "stack.tif")).modality == "volume"


def test_modality_picks_one_of_the_listed_readers_only(tmp_path: Path):
    (tmp_path / "a.wav").write_bytes(b"RIFF0000WAVEfmt ")
    with pytest.raises(UsageError, match="cannot be read as graph"):
        read_signal(str(tmp_path / "a.wav"), as_kind="graph")
    with pytest.raises(UsageError, match="unknown kind"):
        read_signal(str(tmp_path / "a.wav"), as_kind="smell")


def test_writers_refuse_other_kinds_before_any_work():
    assert writer_for("volume", "npy").name == "volume" and writer_for("shape", "npy").name == "shape"
    with pytest.raises(UsageError, match="cannot write image data as .wav"):
        writer_for("image", "wav")
    with pytest.raises(UsageError, match="needs an image extension"):
        output_format("video", "frames/%04d.wav", None)
    assert output_format("video", "frames/%04d.png", None) == "png"
    assert output_format("image", "odd%d.png", None) == "png"  # only kinds with frames read patterns


def test_formats_from_names_and_bytes():
    assert format_of("scan.NII.GZ") == "nii.gz" and format_of("photo.JPG") == "jpg"
    assert sniff(b"\x93NUMPY\x01\x00") == "npy" and sniff(b"\x89PNG\r\n\x1a\n") == "png"
    assert sniff(b"RIFF\x00\x00\x00\x00WAVE") == "wav" and sniff(b"nothing we know") is None


def test_unreadable_bytes_are_one_clear_error(tmp_path: Path):
    (tmp_path / "x.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(SignalReadError, match="x.npy"):
        read_signal(str(tmp_path / "x.npy"))
