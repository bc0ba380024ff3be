"""Where bytes come from and go to: inputs, stdin, and outputs that appear whole or not at all."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from inrcli.errors import OutputExistsError, SignalReadError, UsageError
from inrcli.files import atomic_output, check_target, extension_of, input_path


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".inr-tmp-")]


def test_an_output_appears_only_when_complete(tmp_path: Path):
    target = tmp_path / "out.bin"
    with atomic_output(str(target), False, "bin") as tmp:
        tmp.write_bytes(b"whole")
        assert not target.exists()  # nothing under the final name while writing
    assert target.read_bytes() == b"whole" and not _leftovers(tmp_path)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_output(str(target), True, "bin") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk trouble")
    assert target.read_bytes() == b"old" and not _leftovers(tmp_path)


def test_existing_outputs_need_force_and_inputs_are_never_targets(tmp_path: Path):
    source = tmp_path / "in.png"
    source.write_bytes(b"x")
    with pytest.raises(OutputExistsError):
        check_target(str(source), False)
    with pytest.raises(UsageError, match="input"):
        check_target(str(source), True, (str(source),))
    with pytest.raises(UsageError, match="directory"):
        check_target(str(tmp_path), True)
    with pytest.raises(UsageError, match="does not exist"):
        check_target(str(tmp_path / "nowhere" / "x.png"), False)


def test_a_file_that_appears_while_working_is_not_replaced(tmp_path: Path):
    target = tmp_path / "out.bin"
    with pytest.raises(OutputExistsError):
        with atomic_output(str(target), False, "bin") as tmp:
            tmp.write_bytes(b"mine")
            target.write_bytes(b"theirs")  # another process won the race
    assert target.read_bytes() == b"theirs" and not _leftovers(tmp_path)


def test_outputs_get_the_usual_permissions(tmp_path: Path):
    target = tmp_path / "out.bin"
    with atomic_output(str(target), False, "bin") as tmp:
        tmp.write_bytes(b"x")
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_dash_writes_to_stdout(tmp_path: Path, monkeypatch):
    buffer = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(buffer))
    with atomic_output("-", False, "bin") as tmp:
        tmp.write_bytes(b"piped")
    assert buffer.getvalue() == b"piped"


def test_inputs_are_checked_and_stdin_is_spooled(tmp_path: Path, monkeypatch):
    with pytest.raises(SignalReadError, match="no such file"):
        with input_path(str(tmp_path / "missing.png")):
            pass
    with pytest.raises(SignalReadError, match="directory"):
        with input_path(str(tmp_path)):
            pass
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(SignalReadError, match="empty"):
        with input_path(str(tmp_path / "empty.png")):
            pass
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"bytes from a pipe")))
    with input_path("-", "png") as path:
        assert path.read_bytes() == b"bytes from a pipe" and path.suffix == ".png"
        spooled = path
    assert not spooled.exists()  # the spooled copy is removed afterwards


def test_extension_of_is_lower_case_without_the_dot():
    assert extension_of("Photo.PNG") == "png" and extension_of("noext") == ""
