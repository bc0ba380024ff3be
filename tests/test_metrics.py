import imageio.v3 as iio
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from inrcli import metrics
from tests.conftest import DATA, needs_data, synthetic_image


def noisy(image: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def skimage_ssim(a, b):
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=255, channel_axis=-1)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_psnr_and_ssim_agree_with_scikit_image_on_synthetic_images(channels):
    ref = synthetic_image(40, 52, channels)
    cand = noisy(ref, 12)
    assert metrics.psnr(ref, cand, 255) == pytest.approx(peak_signal_noise_ratio(ref, cand, data_range=255), abs=0.01)
    assert metrics.ssim(ref, cand, 255) == pytest.approx(skimage_ssim(ref, cand), abs=1e-4)


@needs_data
@pytest.mark.parametrize("name", ["astronaut.png", "camera.png"])
def test_psnr_and_ssim_agree_with_scikit_image_on_photos(name):
    ref = iio.imread(DATA / "images" / name)
    ref = ref[..., None] if ref.ndim == 2 else ref
    cand = noisy(ref, 8)
    assert metrics.psnr(ref, cand, 255) == pytest.approx(peak_signal_noise_ratio(ref, cand, data_range=255), abs=0.01)
    assert metrics.ssim(ref, cand, 255) == pytest.approx(skimage_ssim(ref, cand), abs=1e-4)


def test_identical_images_score_infinity_and_one():
    ref = synthetic_image(16, 16)
    assert metrics.psnr(ref, ref, 255) == float("inf")
    assert metrics.ssim(ref, ref, 255) == pytest.approx(1.0)


def test_ssim_is_none_below_the_window_size():
    ref = synthetic_image(8, 30)
    assert metrics.ssim(ref, ref, 255) is None
