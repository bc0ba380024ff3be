"""The compiled, fused Local-Global training step: the same numbers as the torch pass, and a build
that degrades to torch code rather than failing."""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from inrcli import native
from inrcli.models import local_global_step
from inrcli.models.local_global import LocalGlobalSiren
from inrcli.models.local_global_pass import local_global_pass
from inrcli.train import TrainConfig, fit
from inrcli.sampling import Sampler

BUILDABLE = sys.platform == "linux" and platform.machine() == "x86_64" and shutil.which("cc") is not None
needs_kernel = pytest.mark.skipif(not local_global_step.available(),
                                  reason=f"compiled step unavailable: {local_global_step.status()}")


def test_the_kernel_is_built_wherever_it_can_be():
    """Guards against the tests below skipping on a machine that could run them; CI
    (INR_REQUIRE_NATIVE=1) installs a compiler and fails rather than skips."""
    if not BUILDABLE and os.environ.get("INR_REQUIRE_NATIVE") != "1":
        pytest.skip("no C compiler, or not Linux on x86-64")
    assert local_global_step.available(), local_global_step.status()


@needs_kernel
@pytest.mark.parametrize("rows, coord_rows, n, dims, width, global_width, out_dim, hidden, threads", [
    (4, 4, 1024, 2, 13, 16, 3, 3, 1),   # a 64×64 crop's rows: whole tiles
    (6, 2, 300, 3, 7, 9, 3, 2, 2),      # video-like, a partial tile, coordinates shared, two threads
    (3, 3, 129, 1, 16, 8, 1, 1, 1),     # audio-like: one channel, one sample past a tile of 64
    (2, 1, 1000, 2, 5, 4, 3, 1, 1),     # a partial tile of 128
])
def test_the_kernel_gives_the_torch_pass_errors_and_gradients(rows, coord_rows, n, dims, width, global_width,
                                                              out_dim, hidden, threads):
    coords, targets, weights = local_global_step.random_case(rows, coord_rows, n, dims, width, global_width,
                                                             out_dim, hidden)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        fused = [weight.clone().requires_grad_() for weight in weights]
        errors = local_global_step.local_global_squared_errors(30.0, coords, targets, fused[0], fused[1], fused[2],
                                                               fused[3:3 + hidden], fused[3 + hidden:])
        (errors * torch.arange(1.0, rows + 1)).sum().backward()  # per-row weights reach each row's gradients
    finally:
        torch.set_num_threads(before)
    plain = [weight.clone().requires_grad_() for weight in weights]
    prediction = local_global_pass(30.0, coords.repeat(rows // coord_rows, 1, 1), plain[0], plain[1], plain[2],
                                   plain[3:3 + hidden], plain[3 + hidden:])
    expected = ((prediction - targets) ** 2).sum((1, 2))
    (expected * torch.arange(1.0, rows + 1)).sum().backward()
    torch.testing.assert_close(errors.detach(), expected.detach(), rtol=1e-5, atol=0)
    for got, want in zip(fused, plain):
        torch.testing.assert_close(got.grad, want.grad, rtol=1e-4, atol=1e-6 * float(want.grad.abs().max()))


@needs_kernel
def test_the_kernel_serves_rows_that_fill_its_tiles():
    assert local_global_step.serves(1024) and local_global_step.serves(64) and local_global_step.serves(300)
    assert not local_global_step.serves(68)  # 128 computed for 68: the torch pass is faster


class _WholeImage(Sampler):
    """Every sample of a fixed random image, every step."""

    def __init__(self, model: LocalGlobalSiren, seed: int = 0):
        partitions = model.partitioning.num_slots
        generator = torch.Generator().manual_seed(seed)
        self.coords = torch.rand(partitions, 256, 2, generator=generator) * 2 - 1
        self.targets = torch.rand(partitions, 256, 3, generator=generator) * 2 - 1
        self.held_out = None

    @property
    def batch_points(self) -> int:
        return self.coords.shape[0] * self.coords.shape[1]

    def sample(self, generator, step):
        return self.coords, self.targets


@needs_kernel
def test_training_with_the_kernel_follows_training_without_it(monkeypatch):
    def trained(kernel: bool) -> dict[str, torch.Tensor]:
        monkeypatch.setattr(local_global_step, "available", lambda: kernel)
        torch.manual_seed(0)
        model = LocalGlobalSiren.on_partitioning(2, 3, 4000, _grid())
        fit(model, _WholeImage(model), TrainConfig(steps=10))
        return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}

    with_kernel, without = trained(True), trained(False)
    for name in without:
        torch.testing.assert_close(with_kernel[name], without[name], rtol=1e-3, atol=1e-4, msg=name)
    assert any(not torch.equal(with_kernel[name], without[name]) for name in without)  # two different code paths


def _grid():
    from inrcli.grid import Partitioning

    return Partitioning.even((32, 32), (2, 2))


def _copy_of_source(tmp_path):
    """A small C source of its own (its own cache entry; the build mechanics do not need the kernel)."""
    source = tmp_path / "kernel.c"
    source.write_text("int answer(void) { return 42; }\n")
    return source


def test_without_a_compiler_the_torch_pass_serves(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("INR_CACHE_DIR", str(tmp_path / "cache"))
    source = _copy_of_source(tmp_path)
    assert native.library(source) is None
    assert "could not" in native.status(source) and "no-such-compiler" in native.status(source)


def test_inr_native_0_turns_the_kernels_off(tmp_path, monkeypatch):
    monkeypatch.setenv("INR_NATIVE", "0")
    source = _copy_of_source(tmp_path)
    assert native.library(source) is None
    assert native.status(source) == "turned off by INR_NATIVE"


def _load_in_new_processes(source, cache, count: int = 1) -> list[int]:
    """Exit codes of ``count`` processes started at once, each loading ``source`` (built into ``cache``)."""
    script = textwrap.dedent(f"""
        from pathlib import Path
        from inrcli import native
        library = native.library(Path({str(source)!r}))
        assert library is not None and library.answer() == 42, native.status(Path({str(source)!r}))
    """)
    env = {**os.environ, "INR_CACHE_DIR": str(cache)}
    processes = [subprocess.Popen([sys.executable, "-c", script], env=env) for _ in range(count)]
    try:
        return [process.wait(timeout=300) for process in processes]
    finally:
        for process in processes:
            process.kill()


@pytest.mark.skipif(not BUILDABLE, reason="no C compiler, or not Linux on x86-64")
def test_a_damaged_build_in_the_cache_is_built_again(tmp_path):
    source = _copy_of_source(tmp_path)
    assert _load_in_new_processes(source, tmp_path / "cache") == [0]
    [built] = (tmp_path / "cache" / "native").glob("kernel-*.so")
    built.write_bytes(b"not a shared library")
    assert _load_in_new_processes(source, tmp_path / "cache") == [0]
    assert built.read_bytes()[:4] == b"\x7fELF"


@pytest.mark.skipif(not BUILDABLE, reason="no C compiler, or not Linux on x86-64")
def test_processes_building_at_once_leave_one_good_build(tmp_path):
    source = _copy_of_source(tmp_path)
    assert _load_in_new_processes(source, tmp_path / "cache", count=3) == [0, 0, 0]
    entries = list((tmp_path / "cache" / "native").iterdir())
    assert len(entries) == 1 and entries[0].suffix == ".so"  # no temporary files left


@needs_kernel
def test_loading_the_kernel_leaves_subnormal_floats_alone():
    # a library linked with -ffast-math would turn on flush-to-zero for the whole process
    tiny = np.float32(1e-39)
    assert tiny * np.float32(1.0) != 0
    assert float(torch.tensor([1e-39]) * 1.0) != 0


@needs_kernel
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_gets_its_own_kernel_threads():
    # a pool inherited across fork has no threads: the child's first two-thread step would hang
    coords, targets, weights = local_global_step.random_case(4, 4, 128, 2, 5, 6, 3, 1)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        local_global_step._run_kernel(30.0, 1, coords, targets, weights)  # the parent's pool exists
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports through its exit code
            code = 1
            try:
                local_global_step._run_kernel(30.0, 1, coords, targets, weights)
                code = 0
            finally:
                os._exit(code)
        finished, status = 0, 0
        for _ in range(600):  # up to 60 s: a hang fails this test instead of stalling the suite
            finished, status = os.waitpid(child, os.WNOHANG)
            if finished:
                break
            time.sleep(0.1)
        if not finished:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
        assert finished and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        torch.set_num_threads(before)
