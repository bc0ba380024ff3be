"""Fitting a model to a signal.  Never prints: progress goes through a callback."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch

from inrcli.checkpoint import Checkpoint, Progress
from inrcli.models import lr_scales, tensor_roles
from inrcli.optim import Adam
from inrcli.quantize import rounded_weights
from inrcli.sampling import Sampler


def psnr_from_mse(mse: float, peak: float = 2.0) -> float:
    """PSNR in dB of a mean squared error in network units, for a convention whose peak is ``peak``:
    ∞ for a perfect fit, −∞ for an overflowed error, NaN for a diverged one (never ∞)."""
    if math.isnan(mse):
        return math.nan
    if mse <= 0:
        return math.inf
    return 10.0 * math.log10(peak * peak / mse) if math.isfinite(mse) else -math.inf


@dataclass
class TrainConfig:
    """How long and how to train."""

    steps: int | None = None
    """Stop after this many steps (also fixes the learning-rate schedule)."""
    seconds: float | None = None
    """Stop after this much wall-clock training time."""
    target_psnr: float | None = None
    """Stop once a full evaluation reaches this PSNR (dB)."""
    lr: float = 2e-3
    """Peak learning rate of Adam."""
    min_lr_ratio: float = 0.01
    """The cosine schedule decays the learning rate to this fraction of ``lr``."""
    seed: int = 0
    """Seeds model initialisation and sampling."""
    device: str = "cpu"
    check_every: int = 50
    """Least number of steps between full evaluations for --target-psnr."""
    psnr_peak: float = 2.0
    """Peak of the modality's PSNR convention in network units, for the running estimate."""
    loss: str = "mse"
    """``mse``; ``bce`` for logits against 0/1 targets; ``l1``."""
    bits: int | None = None
    """Quantised storage of this many bits: the last ``qat_share`` of the budget trains through
    rounding to the grid (quantisation-aware fine-tuning); None for float storage."""
    qat_share: float = 0.2
    members: int = 1
    """Independent signals trained at once (an :class:`~inrcli.ensemble.Ensemble`): predictions
    and targets then carry a leading member axis, and the loss is each member's own loss, summed,
    so every member's gradient is what training it alone would give."""


@dataclass
class StepInfo:
    """What the progress callback is told after each step."""

    step: int
    planned_steps: int
    score: float
    """Running estimate from the training batches: PSNR (dB) for squared error, else the loss."""
    score_name: str
    elapsed: float
    remaining: float | None
    """Estimated seconds left, once known."""
    lr: float = 0.0
    """Learning rate of the step just taken."""
    budget: float | None = None
    """The time budget in seconds when training runs by the clock (``planned_steps`` is then an
    estimate that moves with the machine's speed); None for a step budget."""


@dataclass
class TrainRecord:
    """What happened during training.  Stored in the file."""

    steps: int
    planned_steps: int
    seconds: float
    batch_score: float
    """Final running PSNR (dB) estimate from the training batches, or the loss for other losses."""
    stopped_by: str
    """'steps', 'seconds' or 'target_psnr'."""
    lr: float
    seed: int
    device: str
    member_scores: list[float] | None = None
    """With several members: each one's final running score, in member order."""

    def to_dict(self) -> dict:
        record = asdict(self)
        if self.member_scores is None:
            record.pop("member_scores")
        return record


# Steps after which a --seconds run re-estimates how many steps fit, for the progress display
# (the speed of the first steps is not the speed of the run: warm-up, other load).
CALIBRATION_STEPS = frozenset([5, 20, 60] + [int(100 * 1.5 ** k) for k in range(20)])


def fit(model: torch.nn.Module, sampler: Sampler, config: TrainConfig,
        on_step: Callable[[StepInfo], None] | None = None,
        full_psnr: Callable[[], float] | None = None, checkpoint: Checkpoint | None = None) -> TrainRecord:
    """Train ``model`` on batches from ``sampler`` with Adam and a cosine learning rate.

    Training stops at ``config.steps``, at ``config.seconds`` of wall-clock time, or when
    ``full_psnr()`` reaches ``config.target_psnr``, whichever comes first.  With only a time
    budget the learning rate follows the clock (the cosine runs over the seconds, not over a
    step count guessed from the first steps), so a run that slows down half-way on a busy
    machine still ends on a decayed rate; the planned step count is then only an estimate for
    the progress display.  With a ``checkpoint``, training resumes from its file if there is one and
    saves the whole state there every ``checkpoint.every`` seconds.
    """
    if config.steps is None and config.seconds is None:
        raise ValueError("fit needs steps or seconds")
    device = torch.device(config.device)
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    scales = lr_scales(model)
    optimizer = Adam(model.parameters(), lr=config.lr,
                     lr_scales=[scales.get(name, 1.0) for name, _ in model.named_parameters()])
    planned = config.steps if config.steps is not None else 1_000_000_000
    ema_mse, ema_losses, stopped_by, step, last_check, elapsed = None, None, "steps", 0, 0, 0.0
    resumed = checkpoint.load(model, optimizer, generator) if checkpoint is not None else None
    if resumed is not None:
        step, planned, elapsed, ema_mse, last_check = (resumed.step, resumed.planned, resumed.elapsed,
                                                       resumed.ema_mse, resumed.last_check)
        ema_losses = None if ema_mse is None else torch.tensor([ema_mse], dtype=torch.float64)
    start = time.perf_counter() - elapsed  # a resumed run continues the time budget it had
    roles = tensor_roles(model)
    by_clock = config.steps is None
    while by_clock or step < planned:
        if checkpoint is not None and checkpoint.due(elapsed):
            checkpoint.save(model, optimizer, generator, Progress(step, planned, elapsed, ema_mse, last_check))
        progress = elapsed / config.seconds if by_clock else step / max(planned, 1)
        for group in optimizer.param_groups:
            group["lr"] = _cosine_lr(config, progress)
        coords, targets = sampler.sample(generator, step)
        coords, targets = coords.to(device), targets.to(device)
        quantising = config.bits is not None and progress >= 1.0 - config.qat_share
        with rounded_weights(model, config.bits, roles) if quantising else nullcontext():
            losses = training_losses(config, model, coords, targets)
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
        optimizer.step()
        step += 1
        losses = losses.detach().double()  # the running score in double precision, as Python floats were
        ema_losses = losses if ema_losses is None else 0.9 * ema_losses + 0.1 * losses
        ema_mse = float(ema_losses.mean())
        elapsed = time.perf_counter() - start
        if config.seconds is not None:
            if by_clock and (step in CALIBRATION_STEPS or step >= planned):
                planned = max(step + 1, int(config.seconds * step / elapsed))
            if elapsed >= config.seconds:
                stopped_by = "seconds"
                break
        if on_step:
            remaining = (planned - step) * elapsed / step if planned < 1_000_000_000 else None
            if config.seconds is not None:
                remaining = min(remaining if remaining is not None else math.inf, config.seconds - elapsed)
            on_step(StepInfo(step, planned, _running_score(config, ema_mse), "PSNR" if config.loss == "mse" else "loss",
                             elapsed, remaining, optimizer.param_groups[0]["lr"], config.seconds if by_clock else None))
        if (config.target_psnr is not None and full_psnr is not None and step - last_check >= config.check_every
                and _running_score(config, ema_mse) >= config.target_psnr - 1.0):
            last_check = step
            if full_psnr() >= config.target_psnr:
                stopped_by = "target_psnr"
                break
    seconds = time.perf_counter() - start
    return TrainRecord(steps=step, planned_steps=planned if planned < 1_000_000_000 else step,
                       seconds=round(seconds, 3),
                       batch_score=round(_running_score(config, ema_mse), 4) if ema_mse is not None else 0.0,
                       stopped_by=stopped_by, lr=config.lr, seed=config.seed, device=str(device),
                       member_scores=None if config.members == 1 or ema_losses is None else
                       [round(_running_score(config, float(loss)), 4) for loss in ema_losses])


LOSSES = {
    "mse": lambda prediction, target: torch.mean((prediction - target) ** 2),
    "bce": torch.nn.functional.binary_cross_entropy_with_logits,
    "l1": lambda prediction, target: torch.mean(torch.abs(prediction - target)),
}


ELEMENTWISE_LOSSES = {
    "mse": lambda prediction, target: (prediction - target) ** 2,
    "bce": lambda prediction, target: torch.nn.functional.binary_cross_entropy_with_logits(
        prediction, target, reduction="none"),
    "l1": lambda prediction, target: torch.abs(prediction - target),
}


def _member_losses(config: TrainConfig, prediction: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The loss of each member: ``(members,)``, or ``(1,)`` for a single model."""
    if config.members == 1:
        return LOSSES[config.loss](prediction, targets).reshape(1)
    return ELEMENTWISE_LOSSES[config.loss](prediction, targets).flatten(1).mean(1)


def training_losses(config: TrainConfig, model: torch.nn.Module, coords: torch.Tensor,
                    targets: torch.Tensor) -> torch.Tensor:
    """Each member's loss on a batch, differentiable: ``(members,)``, or ``(1,)`` for a single
    model.  By the model's fused training step where it has one that serves, else by its forward
    pass and the loss (the same value, up to the order of float sums)."""
    losses = _fused_losses(config, model, coords, targets)
    return losses if losses is not None else _member_losses(config, model(coords), targets)


def _fused_losses(config: TrainConfig, model: torch.nn.Module, coords: torch.Tensor,
                  targets: torch.Tensor) -> torch.Tensor | None:
    """:func:`_member_losses` of a squared error from the model's fused training step
    (``model.squared_errors``: the network and its error in one compiled pass), or None where the
    model has none that can serve here."""
    fused = getattr(model, "squared_errors", None)
    if config.loss != "mse" or fused is None:
        return None
    errors = fused(coords, targets)  # (members,): each member's sum of squared errors
    if errors is None:
        return None
    return errors / (targets.numel() // config.members)  # the mean over a member's samples and channels


def _running_score(config: TrainConfig, ema_loss: float) -> float:
    """What the progress bar shows: PSNR for squared error, the loss itself otherwise."""
    return psnr_from_mse(ema_loss, config.psnr_peak) if config.loss == "mse" else ema_loss


def _cosine_lr(config: TrainConfig, progress: float) -> float:
    """Learning rate at ``progress`` (0 … 1) through the schedule."""
    progress = min(1.0, progress)
    floor = config.min_lr_ratio
    return config.lr * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))
