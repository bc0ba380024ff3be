"""The sine layer of every SIREN here, ``sin(ω0 (Σᵢ xᵢ Wᵢ + b))``, with its gradient written out.

A training step of a small SIREN is not matrix products but passes over activations: on a
2-core CPU, 16 crops of 64×64 spent 40% of a step in ``bmm`` and the rest in element-wise passes
(``sin``, ``cos``, ``mul``, ``cat``; bench/RESULTS.md).  Autograd's composition of
``addmm → mul(ω0) → sin`` makes five passes over the pre-activation besides the products (the ω0
product and its gradient, the sine, and its gradient ``cos · g`` in two).  Here the backward
pass moves ω0 onto the small weight matrices and weight gradients instead of the large
activation gradient, and works in place, so a layer costs the products, ω0 and ``sin`` forward,
``cos`` and one multiply backward.  (The Local-Global SIREN goes further, features first:
:mod:`inrcli.models.local_global_pass`.)

Many networks at once (an ensemble) pass batched tensors, one product per layer for all.
"""

from __future__ import annotations

import torch


def sine(w0: float, bias: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``sin(w0 · (x W + bias))``.

    Shapes: ``x (N, in), W (in, out), bias (out,) -> (N, out)``, or batched
    ``x (B, N, in), W (B, in, out), bias (B, out) -> (B, N, out)``.
    """
    return _Sine.apply(w0, bias, x, weight)


def _product(bias: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x W + bias`` in one GEMM."""
    if x.dim() == 2:
        return torch.addmm(bias, x, weight)
    return torch.baddbmm(bias.unsqueeze(-2), x, weight)


class _Sine(torch.autograd.Function):
    # ctx-first forward (no setup_context): torch then skips binding default arguments through
    # inspect.signature on every call (2.6% of an astronaut step)

    @staticmethod
    def forward(ctx, w0: float, bias: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        z = _product(bias, x, weight)
        # ω0 after the sum, not in the GEMM's alpha/beta: ω0 (xW + b) rounds as every decoder's
        # formula does, which matters at audio's ω0 = 3000 (phases of thousands of radians)
        phase = z.mul_(w0)
        ctx.w0 = w0
        ctx.save_for_backward(phase, x, weight)
        return torch.sin(phase)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        phase, x, weight = ctx.saved_tensors
        w0 = ctx.w0
        _, needs_bias, needs_x, needs_weight = ctx.needs_input_grad
        grad_phase = torch.cos(phase).mul_(grad)  # d sin(φ)/dφ · g, in the cos's own buffer
        # ω0 scales the small weight (or weight gradient), never the activation-sized gradient
        return (None,
                grad_phase.sum(dim=-2).mul_(w0) if needs_bias else None,
                grad_phase.matmul(weight.mT * w0) if needs_x else None,
                x.mT.matmul(grad_phase).mul_(w0) if needs_weight else None)
