"""Several ``inr`` processes at once in one directory (the long version: bench/load_test.py)."""

import subprocess
import sys
from pathlib import Path

from inrcli import fileformat

FLAGS = ["--steps", "5", "--params", "3000", "-q"]


def start(image: Path, target: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "inrcli", "encode", str(image), "-o", str(target), *FLAGS],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_four_processes_racing_for_one_output_leave_one_intact_file(image_file: Path, tmp_path: Path):
    target = tmp_path / "same.safetensors"
    processes = [start(image_file, target) for _ in range(4)]
    results = [(p.wait(timeout=120), p.stderr.read().decode()) for p in processes]
    winners = [code for code, _ in results if code == 0]
    assert len(winners) == 1, results
    assert all(code == 1 and "exists" in err and err.count("\n") == 1 for code, err in results if code != 0)
    fileformat.load(target)  # the survivor is whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.safetensors", "tiny.png"]


def test_four_processes_in_one_directory_do_not_clobber_each_other(image_file: Path, tmp_path: Path):
    targets = [tmp_path / f"out{i}.safetensors" for i in range(4)]
    processes = [start(image_file, target) for target in targets]
    assert [p.wait(timeout=120) for p in processes] == [0, 0, 0, 0]
    assert all(fileformat.load(target).training["steps"] == 5 for target in targets)
