"""3D crop check of issue 4: a block of partitions decodes to the matching block of the full
decode, from a file smaller in proportion.  Usage: python bench/shape_crop_issue4.py MODEL REGION RES"""

import sys

import numpy as np

from inrcli import api, fileformat

model, region, resolution = sys.argv[1], sys.argv[2], int(sys.argv[3])
full = fileformat.load(model)
crop = api.crop(full, region)
crop_bytes = len(fileformat.to_bytes(crop))
whole = api.decode(full, api.plan_decode(full, {"resolution": resolution})).values
factor = resolution / full.signal.full_shape[0]
window = [(int(lo * factor), int(hi * factor)) for lo, hi in crop.signal.window]
part = api.decode(crop, api.plan_decode(crop, {"resolution": resolution})).values
block = whole[tuple(slice(lo, hi) for lo, hi in window)]
print(f"region {region}: {crop.model.partitioning.num_slots}/{full.model.partitioning.num_slots} partitions, "
      f"{crop_bytes:,}/{full.size_bytes:,} bytes = {crop_bytes / full.size_bytes:.3f}; "
      f"decoded block {part.shape[:3]} at {resolution}³ identical to the full decode's block: "
      f"{np.array_equal(block, part)} (max difference {np.abs(block - part).max():.2e})")
