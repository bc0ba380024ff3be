"""Quality metrics.  Conventions are fixed here and printed with every score (docs/FORMAT.md)."""

from __future__ import annotations

import math

import numpy as np

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # int(3.5 * sigma + 0.5): an 11-tap window, as scikit-image's gaussian_weights=True
SSIM_K1, SSIM_K2 = 0.01, 0.03
PSNR_CHUNK = 1 << 22
SSIM_BAND_PIXELS = 1 << 21  # SSIM works through bands of rows this large: ~20 float64 temporaries each


def psnr(reference: np.ndarray, candidate: np.ndarray, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB over all samples and channels: 10·log10(R² / MSE)."""
    reference, candidate = reference.reshape(-1), candidate.reshape(-1)
    squared = 0.0
    for start in range(0, reference.size, PSNR_CHUNK):  # float64 copies of one chunk, not of the signal
        chunk = slice(start, start + PSNR_CHUNK)
        squared += float(np.sum((reference[chunk].astype(np.float64) - candidate[chunk].astype(np.float64)) ** 2))
    mse = squared / max(1, reference.size)
    return 10.0 * math.log10(data_range ** 2 / mse) if mse > 0 else math.inf


def ssim(reference: np.ndarray, candidate: np.ndarray, data_range: float) -> float | None:
    """Mean structural similarity of two ``(H, W, C)`` images, averaged over channels.

    Gaussian window (σ = 1.5, 11 taps), K1 = 0.01, K2 = 0.03, population covariances, mean
    over the pixels whose window lies inside the image: the definition of Wang et al. (2004)
    as computed by ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)``.  None for images smaller than the window.
    """
    height, width = reference.shape[:2]
    if min(height, width) < 2 * SSIM_RADIUS + 1:
        return None
    return float(np.mean([_ssim_channel(reference[..., c], candidate[..., c], data_range)
                          for c in range(reference.shape[-1])]))


def _ssim_channel(reference: np.ndarray, candidate: np.ndarray, data_range: float) -> float:
    """Mean SSIM of one ``(H, W)`` channel, computed over bands of output rows (each band reads
    ``2·radius`` rows more) so that memory stays bounded however large the image; an image that
    fits one band is computed in one piece."""
    import torch  # here, not at the top: reading a file's header imports the kinds, and they this module

    height, width = reference.shape
    halo = 2 * SSIM_RADIUS
    band = max(1, SSIM_BAND_PIXELS // width - halo)
    total, count = 0.0, 0
    for start in range(0, height - halo, band):
        rows = slice(start, min(height, start + band + halo))
        ssim_map = _ssim_channel_map(torch.from_numpy(reference[rows].astype(np.float64)),
                                     torch.from_numpy(candidate[rows].astype(np.float64)), data_range)
        total, count = total + float(ssim_map.sum()), count + ssim_map.numel()
    return total / count


def _ssim_channel_map(x, y, data_range: float):
    """SSIM at every pixel whose window lies inside the image: two ``(H, W)`` float64 tensors in,
    ``(H - 10, W - 10)`` out."""
    import torch
    import torch.nn.functional as F

    taps = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=torch.float64)
    kernel = torch.exp(-(taps ** 2) / (2 * SSIM_SIGMA ** 2))
    kernel = kernel / kernel.sum()

    def blur(image: torch.Tensor) -> torch.Tensor:
        image = image[None, None]
        image = F.conv2d(image, kernel.view(1, 1, -1, 1))
        return F.conv2d(image, kernel.view(1, 1, 1, -1))[0, 0]

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x ** 2
    var_y = blur(y * y) - mu_y ** 2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
