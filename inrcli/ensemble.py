"""Many independent copies of one architecture, trained as one model.

Fitting thousands of small signals one process (or one model) at a time leaves the CPU idle:
each step is a handful of tiny matrix products and the Python around them.  An :class:`Ensemble`
stacks M models of the *same* configuration into weights with a leading member axis and
evaluates all of them with one batched product per layer (the architecture's own
``forward_members``, the same code as its ``forward``), and one optimiser step updates every
member.  Adam's update is elementwise, so each member follows exactly the path it
would follow alone (up to the order of floating-point sums).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import stack_module_state


class Ensemble(nn.Module):
    """M models of one configuration: ``coords (S, n, d) -> (M, S, n, out)``.

    Every member sees the same coordinates (signals of one shape, drawn with one seed, are
    sampled at the same places); each has its own weights, ``(M, *shape)`` per tensor.
    """

    def __init__(self, models: list[nn.Module]):
        super().__init__()
        if not models:
            raise ValueError("an ensemble needs at least one model")
        configs = {repr(getattr(model, "config", None)) for model in models}
        if len(configs) != 1 or len({type(model) for model in models}) != 1:
            raise ValueError("an ensemble's models must share one architecture and configuration")
        if not hasattr(models[0], "forward_members"):
            raise ValueError(f"{type(models[0]).__name__} cannot evaluate several members at once")
        weights, buffers = stack_module_state(models)
        if buffers:
            raise ValueError("an ensemble holds models without buffers")
        self.names = list(weights)
        self.weights = nn.ParameterList(nn.Parameter(weights[name]) for name in self.names)
        # the architecture's code with no storage of its own: forward_members is given every member's weights
        self._template = [copy.deepcopy(models[0]).to("meta")]  # a list: not registered as a submodule
        self.members = len(models)

    @property
    def architecture(self) -> nn.Module:
        """A member's architecture and configuration, without weights (on the meta device): what
        quantised storage asks about the tensors (``models.tensor_roles``) is asked of it."""
        return self._template[0]

    def forward(self, coords: torch.Tensor, slots: torch.Tensor | None = None) -> torch.Tensor:
        return self._template[0].forward_members(dict(zip(self.names, self.weights)), coords, slots)

    def squared_errors(self, coords: torch.Tensor, targets: torch.Tensor) -> torch.Tensor | None:
        """Each member's squared error over a batch, ``(M,)`` (``targets (M, S, n, out)``), by the
        architecture's fused training step if it has one that can serve here; else None."""
        fused = getattr(self._template[0], "squared_errors_members", None)
        return None if fused is None else fused(dict(zip(self.names, self.weights)), coords, targets)

    def member_tensors(self):
        """``(name, weight)`` for each weight, ``(M, *shape)``: slice ``m`` is the tensor member
        ``m``'s own file will hold (the parameters themselves: writing one writes the ensemble)."""
        return zip(self.names, self.weights)

    def member_state(self, member: int) -> dict[str, torch.Tensor]:
        """Member ``member``'s weights as a state dict of its architecture (detached copies)."""
        return {name: weight[member].detach().clone() for name, weight in zip(self.names, self.weights)}

    def load_into(self, models: list[nn.Module]) -> None:
        """Copy every member's weights back into ``models`` (in member order)."""
        for member, model in enumerate(models):
            model.load_state_dict(self.member_state(member))
