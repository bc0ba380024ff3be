"""The sine layer of every SIREN here, ``sin(ω0 (Σᵢ xᵢ Wᵢ + b))``, with its gradient written out.

A training step of a small SIREN is not matrix products but passes over activations: on a
2-core CPU, 16 crops of 64×64 spent 40% of a step in ``bmm`` and the rest in element-wise passes
(``sin``, ``cos``, ``mul``, ``cat``; bench/RESULTS.md).  Autograd's composition of
``addmm → mul(ω0) → sin`` makes five passes over the pre-activation besides the products (the ω0
product and its gradient, the sine, and its gradient ``cos · g`` in two).  Here the backward
pass moves ω0 onto the small weight matrices and weight gradients instead of the large
activation gradient, and works in place, so a layer costs the products, ω0 and ``sin`` forward,
``cos`` and one multiply backward.  A sum of several products (the Local-Global merge of
``[local, global]``) accumulates into one output instead of concatenating its inputs first.

Many networks at once (an ensemble) pass batched tensors, one product per layer for all.
"""

from __future__ import annotations

import torch


def sine(w0: float, bias: torch.Tensor, *operands: torch.Tensor) -> torch.Tensor:
    """``sin(w0 · (x₁ W₁ + x₂ W₂ + … + bias))`` for ``operands = (x₁, W₁, x₂, W₂, …)``.

    Shapes, all operands alike: ``x (N, in), W (in, out), bias (out,) -> (N, out)``, or batched
    ``x (B, N, in), W (B, in, out), bias (B, out) -> (B, N, out)``.
    """
    if not operands or len(operands) % 2:
        raise ValueError("sine takes (input, weight) pairs")
    return _Sine.apply(w0, bias, *operands)


def _product(bias: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x W + bias`` in one GEMM."""
    if x.dim() == 2:
        return torch.addmm(bias, x, weight)
    return torch.baddbmm(bias.unsqueeze(-2), x, weight)


def _accumulate(z: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``z + x W``, in place."""
    return z.addmm_(x, weight) if x.dim() == 2 else z.baddbmm_(x, weight)


class _Sine(torch.autograd.Function):
    # ctx-first forward (no setup_context): torch then skips binding default arguments through
    # inspect.signature on every call (2.6% of an astronaut step)

    @staticmethod
    def forward(ctx, w0: float, bias: torch.Tensor, *operands: torch.Tensor) -> torch.Tensor:
        z = _product(bias, operands[0], operands[1])
        for start in range(2, len(operands), 2):
            z = _accumulate(z, operands[start], operands[start + 1])
        # ω0 after the sum, not in the GEMM's alpha/beta: ω0 (xW + b) rounds as every decoder's
        # formula does, which matters at audio's ω0 = 3000 (phases of thousands of radians)
        phase = z.mul_(w0)
        ctx.w0 = w0
        ctx.save_for_backward(phase, *operands)
        return torch.sin(phase)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        phase, *operands = ctx.saved_tensors
        w0 = ctx.w0
        grad_phase = torch.cos(phase).mul_(grad)  # d sin(φ)/dφ · g, in the cos's own buffer
        grads = [None, None]  # w0, bias
        for start in range(0, len(operands), 2):
            x, weight = operands[start], operands[start + 1]
            needs_x, needs_w = ctx.needs_input_grad[2 + start], ctx.needs_input_grad[3 + start]
            # ω0 scales the small weight (or weight gradient), never the activation-sized gradient
            grads.append(grad_phase.matmul(weight.mT * w0) if needs_x else None)
            grads.append(x.mT.matmul(grad_phase).mul_(w0) if needs_w else None)
        if ctx.needs_input_grad[1]:
            grads[1] = grad_phase.sum(dim=-2).mul_(w0)
        return tuple(grads)
