"""Optimizers and the learning-rate schedule a :class:`~lstm_sentiment.config.TrainConfig` names."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .config import TrainConfig
from .errors import UserError


class KerasRMSprop:
    """RMSprop exactly as Keras 2 defines it (differs from ``torch.optim.RMSprop``'s epsilon).

    ``v = rho * v + (1 - rho) * g**2`` then ``p -= lr * g / sqrt(v + epsilon)``; PyTorch's own
    puts epsilon outside the square root.

    It speaks ``torch.optim.Optimizer``'s protocol (``param_groups``, ``step``, ``zero_grad``,
    ``state_dict`` in the same layout) without deriving from it: that class imports
    ``torch._dynamo`` (and sympy with it) on first use, resident for the rest of the run.
    """

    def __init__(self, params: Any, lr: float = 1e-3, rho: float = 0.9,
                 epsilon: float = 1e-7) -> None:
        self.param_groups: list[dict[str, Any]] = [
            {"params": list(params), "lr": lr, "rho": rho, "epsilon": epsilon}]
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            lr, rho, eps = group["lr"], group["rho"], group["epsilon"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.setdefault(p, {})
                if "square_avg" not in state:
                    state["square_avg"] = torch.zeros_like(p)
                v = state["square_avg"]
                v.mul_(rho).addcmul_(p.grad, p.grad, value=1.0 - rho)
                p.addcdiv_(p.grad, (v + eps).sqrt_(), value=-lr)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.zero_()

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [...]}``, parameters by index, as
        ``torch.optim.Optimizer.state_dict`` lays it out."""
        params = [p for group in self.param_groups for p in group["params"]]
        groups, start = [], 0
        for group in self.param_groups:
            n = len(group["params"])
            groups.append({**{k: v for k, v in group.items() if k != "params"},
                           "params": list(range(start, start + n))})
            start += n
        state = {i: dict(self.state[p]) for i, p in enumerate(params) if p in self.state}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        groups = state_dict["param_groups"]
        if [len(g["params"]) for g in groups] != [len(g["params"]) for g in self.param_groups]:
            raise ValueError("the optimizer state is for a different set of parameters")
        for group, saved in zip(self.param_groups, groups, strict=True):
            group.update({k: v for k, v in saved.items() if k != "params"})
        params = [p for group in self.param_groups for p in group["params"]]
        self.state = {}
        for idx, values in state_dict["state"].items():
            p = params[int(idx)]
            self.state[p] = {k: v.to(p.device, p.dtype) if isinstance(v, torch.Tensor) else v
                             for k, v in values.items()}


# what fit() steps: Keras's RMSprop (ours) or torch's AdamW
Optimizer = KerasRMSprop | torch.optim.Optimizer


def make_optimizer(params: list[nn.Parameter], config: TrainConfig) -> Optimizer:
    """The optimizer ``config`` names, over ``params``."""
    if config.optimizer == "rmsprop":
        return KerasRMSprop(params, lr=config.learning_rate)
    if config.optimizer == "adam":
        return torch.optim.AdamW(params, lr=config.learning_rate,
                                 weight_decay=config.weight_decay)
    raise UserError(f"unknown optimizer {config.optimizer!r} (choose rmsprop or adam)")


WARMUP = 0.1  # the one-cycle schedule's share of steps spent warming up


def learning_rate_at(config: TrainConfig, step: int, total: int) -> float:
    """The learning rate for optimizer step ``step`` of ``total`` (0-based).

    ``constant``: ``learning_rate`` throughout. ``one-cycle``: linear warm-up from 1/25 of the
    peak over the first 10% of steps, then cosine annealing to 1/1000 of it (Smith's one-cycle
    policy as ``torch.optim.lr_scheduler.OneCycleLR`` shapes it). A pure function of the step,
    so a resumed run follows the same curve without saving a scheduler.
    """
    peak = config.learning_rate
    if config.schedule == "constant":
        return peak
    if config.schedule != "one-cycle":
        raise UserError(f"unknown schedule {config.schedule!r} (choose constant or one-cycle)")
    warm = max(1, int(total * WARMUP))
    if step < warm:
        return peak / 25 + (peak - peak / 25) * step / warm
    done = min(1.0, (step - warm) / max(1, total - warm))
    low = peak / 1000
    return low + (peak - low) * 0.5 * (1 + math.cos(math.pi * done))


