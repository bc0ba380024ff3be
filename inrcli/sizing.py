"""Size targets (``--bpp``, ``--max-bytes``): how many parameters a file of some bytes can hold.

A coded weight costs about its tensor's bits (the file's ``b``, more for a first layer and for
biases: :func:`~inrcli.quantize.tensor_bits`) less what entropy coding saves, 0.6–1 bit on trained
SIRENs (chelsea.png at 8 bits, beside a 2.3 kB header: 7.3 bits per weight for 91,640 weights,
8.3 for 12,053, whose first layer and biases are a larger share). The estimate sizes the network; the encode then checks the real file
and, if it is still too large, stores the trained weights with fewer bits until it fits.
"""

from __future__ import annotations

import math

from inrcli.errors import UsageError

HEADER_BYTES = 2560
"""Metadata JSON (about half of it ``inr.coding``) and the histograms."""
BYTES_PER_PARTITION = 8
"""A partition's chunk length (4 bytes) and its rANS stream's final state (half a word to a word)."""
EXTRA_BITS = 0.5
"""Bits per weight above ``b`` for a first estimate, before the network's own mix is known."""
CODING_GAIN = 0.6
"""Bits per weight entropy coding is counted on to save (the least measured): a file that still
comes out too large is stored with a bit less, which costs far more quality than a few weights."""
SAMPLES_PER_PARTITION = 1024
"""Automatic grids aim at about this many samples per partition (32×32 pixels, 2048 audio samples)."""
MIN_PARAMS = 256


def target_bytes(bpp: float | None, max_bytes: int | None, samples: int) -> int | None:
    """The file size asked for: ``max_bytes``, or ``bpp`` bits per sample over ``samples``; None
    when neither is set."""
    if bpp is not None and max_bytes is not None:
        raise UsageError("give --bpp or --max-bytes, not both")
    if bpp is not None:
        if not bpp > 0:
            raise UsageError("--bpp must be positive")
        return math.floor(bpp * samples / 8)
    if max_bytes is not None and max_bytes <= 0:
        raise UsageError("--max-bytes must be positive")
    return max_bytes


def coded_cost(model, bits: int) -> tuple[float, int]:
    """``model`` (a torch module, on any device) in a coded file of ``bits``: bits per weight, and
    the bytes of its tensors' histograms (16 two-byte counts each: a tenth of a small file)."""
    from inrcli.coded import prior_size
    from inrcli.models import tensor_roles
    from inrcli.quantize import FLOAT_BITS, tensor_bits

    roles = tensor_roles(model)
    widths = {name: tensor_bits(bits, roles(name)) for name in model.state_dict()}
    sizes = {name: tensor.numel() for name, tensor in model.state_dict().items()}
    total = sum(size * (FLOAT_BITS + CODING_GAIN if widths[name] is None else widths[name]) for name, size in sizes.items())
    histograms = sum(2 * prior_size(b) for b in widths.values() if b is not None)
    return total / max(1, sum(sizes.values())) - CODING_GAIN, histograms


def params_for(target: int, bits: float, samples: int, fixed_bytes: int = 0) -> int:
    """Parameters of a network whose file of ``bits`` per weight fits in ``target`` bytes, beside
    ``fixed_bytes`` of arrays stored with the weights (a graph's mesh and anchors)."""
    overhead = HEADER_BYTES + fixed_bytes + BYTES_PER_PARTITION * math.ceil(samples / SAMPLES_PER_PARTITION)
    params = int((target - overhead) * 8 / bits)
    if params < MIN_PARAMS:
        raise UsageError(f"{target:,} bytes hold too few weights at {bits} bits; a file of this signal needs at "
                         f"least {overhead + math.ceil(MIN_PARAMS * bits / 8):,} bytes")
    return params
