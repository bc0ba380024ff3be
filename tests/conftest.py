"""Shared fixtures: tiny synthetic images, the CLI runner, and the shared data folder."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from typer.testing import CliRunner

from inrcli.cli import app

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared test data not found at {DATA}")


def default_sigint() -> None:
    """``preexec_fn`` for a child the test interrupts: a child of a background job (`pytest … &`
    in a script) inherits an ignored SIGINT, and Python then never installs its Ctrl-C handler;
    the tests are about inr's own handling, so start the child as a terminal would."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def synthetic_image(height: int = 20, width: int = 24, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth colour pattern with one sharp edge: ``(H, W, C)`` uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    planes = [np.sin(6 * x + 3 * y + k) * 0.4 + 0.5 for k in range(channels)]
    image = np.stack(planes, -1)
    image[: height // 2, : width // 3] *= 0.5
    image += rng.normal(0, 0.01, image.shape)
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.png"
    iio.imwrite(path, synthetic_image())
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str, input: bytes | None = None):
    """Run ``inr ARGS`` in-process."""
    return runner.invoke(app, [str(a) for a in args], input=input)


@pytest.fixture(scope="session")
def encoded_tiny(tmp_path_factory) -> Path:
    """A tiny lg-siren file of float32 weights (``--bits 32``: the layout the format tests read)
    with a 3×4 grid over a 20×24 image, trained briefly."""
    folder = tmp_path_factory.mktemp("encoded")
    image = folder / "tiny.png"
    iio.imwrite(image, synthetic_image())
    out = folder / "tiny.safetensors"
    result = CliRunner().invoke(app, ["encode", str(image), "-o", str(out), "--steps", "30",
                                      "--partitions", "3,4", "--params", "3000", "--bits", "32", "--quiet"])
    assert result.exit_code == 0, result.stderr
    return out


@contextmanager
def small_shape_fields():
    """Shapes trained on a 16³ occupancy grid from a pool of 4,000 points: the same code as the
    defaults (64³ and more), in a fraction of the time."""
    from inrcli.signals import shape

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shape, "RESOLUTION", 16)
        patch.setattr(shape, "POOL_POINTS", 4000)
        yield
