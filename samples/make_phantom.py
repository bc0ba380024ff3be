"""Write ``phantom.nii.gz``: a 64³ three-dimensional Shepp–Logan head phantom (CC0, made here).

Ten ellipsoids with the centres and half-axes of the 3-D Shepp–Logan phantom (Kak & Slaney,
"Principles of Computerized Tomographic Imaging", 1988, table 3.1 extended to 3-D as is usual)
and the higher-contrast intensities of Toft's modified version, summed where they overlap.  The
two tilted ellipsoids are turned by ±18° about the vertical axis.  Values are scaled to 0–1000 and
stored as 16-bit integers with 3 mm voxels, like a small CT volume.

    python samples/make_phantom.py            # rewrites samples/phantom.nii.gz
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SIZE = 64
VOXEL_MM = 3.0
# intensity, half-axes (a, b, c), centre (x, y, z), rotation about z in degrees
ELLIPSOIDS = [
    (1.0, (0.6900, 0.920, 0.810), (0.00, 0.0000, 0.00), 0),
    (-0.8, (0.6624, 0.874, 0.780), (0.00, -0.0184, 0.00), 0),
    (-0.2, (0.1100, 0.310, 0.220), (0.22, 0.0000, 0.00), -18),
    (-0.2, (0.1600, 0.410, 0.280), (-0.22, 0.0000, 0.00), 18),
    (0.1, (0.2100, 0.250, 0.410), (0.00, 0.3500, -0.15), 0),
    (0.1, (0.0460, 0.046, 0.050), (0.00, 0.1000, 0.25), 0),
    (0.1, (0.0460, 0.046, 0.050), (0.00, -0.1000, 0.25), 0),
    (0.1, (0.0460, 0.023, 0.050), (-0.08, -0.6050, 0.00), 0),
    (0.1, (0.0230, 0.023, 0.020), (0.00, -0.6060, 0.00), 0),
    (0.1, (0.0230, 0.046, 0.020), (0.06, -0.6050, 0.00), 0),
]


def phantom(size: int = SIZE) -> np.ndarray:
    """The phantom on a ``size³`` grid over [-1, 1]³, axes (x, y, z): float64."""
    axis = (np.arange(size) + 0.5) / size * 2 - 1
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    volume = np.zeros((size, size, size))
    for value, (a, b, c), (x0, y0, z0), degrees in ELLIPSOIDS:
        turn = np.deg2rad(degrees)
        dx, dy, dz = x - x0, y - y0, z - z0
        u = dx * np.cos(turn) + dy * np.sin(turn)
        v = -dx * np.sin(turn) + dy * np.cos(turn)
        volume[(u / a) ** 2 + (v / b) ** 2 + (dz / c) ** 2 <= 1] += value
    return volume


def main() -> None:
    import nibabel

    volume = phantom()
    scaled = np.rint(np.clip(volume, 0, None) / volume.max() * 1000).astype(np.int16)
    image = nibabel.Nifti1Image(scaled, np.diag([VOXEL_MM, VOXEL_MM, VOXEL_MM, 1.0]))
    target = Path(__file__).resolve().parent / "phantom.nii.gz"
    nibabel.save(image, str(target))
    print(f"{target}: {scaled.shape}, values {scaled.min()}–{scaled.max()}, {target.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
