"""Issue 14 probes on one trained float file: bits against PSNR without fine-tuning, and which coder.

    python bench/quant_issue14.py MODEL.safetensors SOURCE.png [--bits 16,10,9,8,7,6,5,4]

For each --bits: the float weights quantised as `inr encode --bits N` stores them but without the
quantisation-aware fine-tuning (the same training, rounded at the end), the file's bytes and the
PSNR of its decode. Then the coder choice: the same integers (8, 6 and 4 bits) coded per partition
chunk by rANS against the stored histograms (what inr writes) and, per chunk, by zstd (level 19)
and brotli (quality 11) of the integers as bytes (two bytes above 8 bits), and zstd of all chunks
at once (no longer croppable), with the tensors' empirical entropy for reference.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from inrcli import api, fileformat
from inrcli.coded import Coding
from inrcli.models import local_tensor_test, tensor_roles
from inrcli.quantize import storable_state
from inrcli.signals import read_signal


def storable(inr, state: dict) -> dict:
    """The float ``state`` as a coded file stores it before rounding (sine biases in one period)."""
    inr.model.load_state_dict(state)
    return storable_state(inr.model)


def quantised(inr, state: dict, bits: int) -> Coding:
    arrays = storable(inr, state)
    inr.coding = Coding.fit(arrays, bits, tensor_roles(inr.model))
    inr.model.load_state_dict({k: torch.from_numpy(v) for k, v in inr.coding.rounded(arrays).items()})
    return inr.coding


def coders(inr, state: dict, coding: Coding) -> dict:
    import brotli
    import zstandard

    is_local = local_tensor_test(inr.model)
    arrays = storable(inr, state)
    q = {k: grid.quantise(arrays[k]) for k, grid in coding.grids.items()}  # float tensors left out
    as_bytes = lambda a, k: a.astype(np.uint8 if coding.grids[k].bits <= 8 else np.uint16).tobytes()
    slots = next(v.shape[0] for k, v in q.items() if is_local(k))
    chunks = [b"".join(as_bytes(q[k][s], k) for k in q if is_local(k)) for s in range(slots)]
    chunks.append(b"".join(as_bytes(q[k], k) for k in q if not is_local(k)))
    packed = coding.pack(arrays, is_local)
    entropy = 0.0
    for values in q.values():
        counts = np.bincount(values.ravel())
        p = counts[counts > 0] / values.size
        entropy += -(p * np.log2(p)).sum() * values.size / 8
    return {"rans_with_histograms": sum(a.nbytes for a in packed.values()),
            "zstd19_per_chunk": sum(len(zstandard.ZstdCompressor(level=19).compress(c)) for c in chunks),
            "brotli11_per_chunk": sum(len(brotli.compress(c, quality=11)) for c in chunks),
            "zstd19_whole": len(zstandard.ZstdCompressor(level=19).compress(b"".join(chunks))),
            "empirical_entropy": round(entropy)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("source")
    parser.add_argument("--bits", default="16,10,9,8,7,6,5,4")
    args = parser.parse_args()
    inr, signal = fileformat.load(args.model), read_signal(args.source)
    state = {k: v.clone() for k, v in inr.model.state_dict().items()}
    pixels = int(np.prod(signal.shape))
    print(f"float32: {inr.size_bytes:,} bytes, PSNR {api.evaluate(signal, inr)['psnr']:.2f} dB")
    for bits in [int(b) for b in args.bits.split(",")]:
        quantised(inr, state, bits)
        data = fileformat.to_bytes(inr)
        psnr = api.evaluate(signal, fileformat.from_bytes(data))["psnr"]
        print(f"--bits {bits:2d} without fine-tuning: {len(data):,} bytes, {8 * len(data) / pixels:.3f} bpp, "
              f"PSNR {psnr:.2f} dB")
    for bits in (8, 6, 4):
        print(f"coders at {bits} bits (bytes of the weights):", coders(inr, state, quantised(inr, state, bits)))
    inr.model.load_state_dict(state)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
