"""The Local-Global SIREN's forward and backward passes, written out, features first.

A training step of small Local-Global networks (a 64×64 crop: 2×2 partitions of width 13, a
global branch of width 16) is not arithmetic but passes over activations, and matrix products
whose one long side decides how well they run.  Here every activation is held as
``(rows, features, samples)`` — features first — so each product is ``W (rows, out, in) @
X (rows, in, samples)``, long along the samples, which runs 1.3–2.5× faster than the
samples-first ``X W`` with its broadcast bias (bench/RESULTS.md, "After the features-first
Local-Global pass").  Besides:

* every activation carries a row of ones under its features, so a layer's bias is one more
  column of its weight: no broadcast copy forward, no bias sum backward;
* ω0 of the hidden and merge layers is folded into their (tiny) weights by the caller; only the
  first layer multiplies its phases by ω0 after the sum, so ω0 (x W + b) rounds as every
  decoder's formula does (which matters at audio's ω0 of thousands of radians);
* the local and global activations of one depth share one buffer, ``[local; global; 1]``, so
  the merge of the two is one product, with no concatenated copy;
* the backward pass reuses the saved phases' memory for ``cos`` and multiplies in place.

Rows are ``members × partitions``: row ``r`` is one member's local network over one partition,
with that member's global branch and merge layer (their weights repeated per row by the caller).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable


def local_global_pass(first_w0: float, coords: torch.Tensor, first: torch.Tensor, merge: torch.Tensor,
                      out: torch.Tensor, local: list[torch.Tensor], glob: list[torch.Tensor]) -> torch.Tensor:
    """The network over ``coords``; returns ``(R, out_dim, n)``.

    Shapes (``R`` rows, ``n`` samples, ``d`` coordinates, local width ``w``, global width
    ``g``, ``L`` depths); every weight carries its bias as its last column:

    * ``coords (R, d + 1, n)``: the coordinates, features first, over a row of ones;
    * ``first (R, w + g, d + 1)``: the local and global first layers, stacked (not ω0-scaled);
    * ``merge (R, w, w + g + 1)``: the merge of ``[local; global]``, ω0-scaled;
    * ``out (R, out_dim, w + 1)``: the linear output layer;
    * ``local``: ``L - 1`` hidden local layers ``(R, w, w + 1)``, ω0-scaled;
    * ``glob``: ``L - 1`` hidden global layers ``(R, g, g + 1)``, ω0-scaled.
    """
    if len(local) != len(glob):
        raise ValueError("the local and global branches need the same depth")
    return _LocalGlobalPass.apply(first_w0, len(local), coords, first, merge, out, *local, *glob)


def _sines_with_ones(*phases: torch.Tensor) -> torch.Tensor:
    """``[sin(phase₁); sin(phase₂); …; 1]`` stacked along features: ``(R, Σ features + 1, n)``."""
    rows, _, n = phases[0].shape
    features = sum(phase.shape[1] for phase in phases)
    stacked = torch.empty(rows, features + 1, n, dtype=phases[0].dtype, device=phases[0].device)
    stacked[:, features].fill_(1.0)
    start = 0
    for phase in phases:
        torch.sin(phase, out=stacked[:, start:start + phase.shape[1]])
        start += phase.shape[1]
    return stacked


class _LocalGlobalPass(torch.autograd.Function):
    # ctx-first forward (no setup_context): see inrcli.models.sine

    @staticmethod
    def forward(ctx, first_w0: float, hidden: int, coords, first, merge, out, *layers):
        local, glob = layers[:hidden], layers[hidden:]
        width = merge.shape[1]
        phase = torch.bmm(first, coords).mul_(first_w0)  # (R, w + g, n): local and global at once
        both = _sines_with_ones(phase)  # (R, w + g + 1, n): [local; global; 1]
        merged_phase = torch.bmm(merge, both)
        merged = _sines_with_ones(merged_phase)  # (R, w + 1, n)
        activations = [phase, both, merged_phase, merged]
        for depth in range(hidden):
            local_phase = torch.bmm(local[depth], merged)
            global_phase = torch.bmm(glob[depth], both[:, width:])  # the global output and its ones
            both = _sines_with_ones(local_phase, global_phase)
            merged_phase = torch.bmm(merge, both)
            merged = _sines_with_ones(merged_phase)
            activations += [local_phase, global_phase, both, merged_phase, merged]
        ctx.first_w0, ctx.hidden = first_w0, hidden
        ctx.save_for_backward(coords, first, merge, out, *layers, *activations)
        return torch.bmm(out, merged)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        hidden = ctx.hidden
        coords, first, merge, out, *rest = ctx.saved_tensors
        local, glob, activations = rest[:hidden], rest[hidden:2 * hidden], rest[2 * hidden:]
        width = merge.shape[1]
        needs = ctx.needs_input_grad[2:]  # coords, first, merge, out, local…, glob…
        grads = {}
        merged = activations[-1]
        grad_out = grad_out.contiguous()
        if needs[3]:
            grads["out"] = torch.bmm(grad_out, merged.mT)
        grad_merged = torch.bmm(out[:, :, :width].mT, grad_out)  # (R, w, n)
        grad_merge = None
        grad_global = None  # the gradient reaching the global output of the depth below
        for depth in range(hidden, -1, -1):
            if depth:
                start = 4 + 5 * (depth - 1)
                local_phase, global_phase, both, merged_phase = activations[start:start + 4]
            else:
                phase, both, merged_phase = activations[:3]
            grad_merged_phase = torch.cos(merged_phase, out=merged_phase).mul_(grad_merged)
            if needs[2]:
                step = torch.bmm(grad_merged_phase, both.mT)
                grad_merge = step if grad_merge is None else grad_merge.add_(step)
            grad_both = torch.bmm(merge[:, :, :-1].mT, grad_merged_phase)  # (R, w + g, n)
            if grad_global is not None:
                grad_both[:, width:].add_(grad_global)
            if depth == 0:
                if needs[1]:
                    grad_phase = torch.cos(phase, out=phase).mul_(grad_both)
                    grads["first"] = torch.bmm(grad_phase, coords.mT).mul_(ctx.first_w0)
                break
            below, merged_below = activations[start - 3], activations[start - 1]  # the depth below's
            grad_local_phase = torch.cos(local_phase, out=local_phase).mul_(grad_both[:, :width])
            grad_global_phase = torch.cos(global_phase, out=global_phase).mul_(grad_both[:, width:])
            if needs[4 + depth - 1]:
                grads[("local", depth - 1)] = torch.bmm(grad_local_phase, merged_below.mT)
            if needs[4 + hidden + depth - 1]:
                grads[("glob", depth - 1)] = torch.bmm(grad_global_phase, below[:, width:].mT)
            grad_merged = torch.bmm(local[depth - 1][:, :, :-1].mT, grad_local_phase)
            grad_global = torch.bmm(glob[depth - 1][:, :, :-1].mT, grad_global_phase)
        return (None, None, None, grads.get("first"), grad_merge, grads.get("out"),
                *(grads.get(("local", k)) for k in range(hidden)),
                *(grads.get(("glob", k)) for k in range(hidden)))
