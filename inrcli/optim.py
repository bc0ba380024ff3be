"""Adam, as ``torch.optim.Adam`` computes it, without what importing torch's compiler costs.

``torch.optim``'s optimisers import ``torch._dynamo`` (the compiler front end) on their first
step and in ``add_param_group``, to fence themselves off from compilation: 2.5 s of every
``inr encode`` process on a 2-core machine, a third of encoding a small file (bench/RESULTS.md,
"Start-up").  ``inr`` never compiles, so it runs Adam's update itself: the same operations in
the same order as torch's single-tensor Adam (the implementation torch picks on the CPU), hence
the same bits; the tests compare the two step by step.  ``state_dict`` has torch's layout, so
checkpoints are read and written as before.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class Adam:
    """Adam (Kingma & Ba) with one parameter group and no weight decay: the subset of
    ``torch.optim.Adam`` that training uses.  Set ``param_groups[0]["lr"]`` to change the rate.

    ``lr_scales`` (one per parameter, default all 1) multiplies the group's rate for a parameter
    that should learn faster than the rest (a set's spatial codes); a factor of 1 leaves the
    update exactly torch's."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, lr_scales: Iterable[float] | None = None):
        params = list(params)
        self.param_groups = [{"params": params, "lr": lr, "betas": betas, "eps": eps, "weight_decay": 0,
                              "amsgrad": False, "maximize": False}]
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}
        self._scales = list(lr_scales) if lr_scales is not None else [1.0] * len(params)
        if len(self._scales) != len(params):
            raise ValueError(f"{len(self._scales)} learning-rate scales for {len(params)} parameters")

    @property
    def _params(self) -> list[torch.Tensor]:
        return self.param_groups[0]["params"]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self._params:
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        for param, scale in zip(self._params, self._scales):
            if param.grad is None:
                continue
            grad = param.grad
            state = self.state.get(param)
            if state is None:
                state = self.state[param] = {"step": torch.tensor(0.0),
                                             "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
                                             "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format)}
            state["step"] += 1
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            step = state["step"].item()
            bias_correction1 = 1 - beta1 ** step
            bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
            param.addcdiv_(exp_avg, denom, value=-((lr if scale == 1.0 else lr * scale) / bias_correction1))

    def state_dict(self) -> dict:
        """``{"state": {index: {"step", "exp_avg", "exp_avg_sq"}}, "param_groups": [...]}``, as torch's."""
        index = {id(param): i for i, param in enumerate(self._params)}
        group = {key: value for key, value in self.param_groups[0].items() if key != "params"}
        return {"state": {index[id(param)]: dict(state) for param, state in self.state.items()},
                "param_groups": [group | {"params": list(range(len(self._params)))}]}

    def load_state_dict(self, state_dict: dict) -> None:
        """Moments and step counts by parameter index (from :meth:`state_dict` or torch's)."""
        params = self._params
        self.state = {}
        for index, state in state_dict["state"].items():
            param = params[int(index)]
            self.state[param] = {"step": torch.as_tensor(state["step"], dtype=torch.float32).reshape(()).clone(),
                                 "exp_avg": state["exp_avg"].to(param.device, param.dtype).clone(),
                                 "exp_avg_sq": state["exp_avg_sq"].to(param.device, param.dtype).clone()}
        saved = state_dict["param_groups"][0]
        self.param_groups[0].update({key: value for key, value in saved.items() if key != "params"})
