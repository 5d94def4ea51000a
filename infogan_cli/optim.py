"""Adam on torch's own kernels, without ``torch.optim.Optimizer``.

Every ``torch.optim.Optimizer`` imports ``torch._dynamo`` (and with it sympy) the first time its
methods run, only to mark them as not compilable. That import is about 150 MB resident, the
difference between a default training run fitting in 1 GiB or not (docs/performance.md). This
class keeps Adam's state and calls the same function ``torch.optim.Adam.step`` ends in
(``torch.optim.adam.adam``: the fused CPU/CUDA kernel, else foreach), so the updates are the same
bit for bit, and its ``state_dict`` has ``torch.optim.Adam``'s layout, so checkpoints are too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch.optim.adam import adam

# The hyperparameters torch.optim.Adam records per group; state_dict() writes all of them.
_GROUP_KEYS = dict(
    weight_decay=0.0,
    amsgrad=False,
    maximize=False,
    foreach=None,
    capturable=False,
    differentiable=False,
    fused=None,
    decoupled_weight_decay=False,
)
_RESTORED_KEYS = ("lr", "betas", "eps")  # what load_state_dict takes from a saved group


class Adam:
    """Plain Adam (no weight decay, no amsgrad) over one parameter group."""

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        fused: bool = False,
        foreach: bool | None = None,
    ) -> None:
        self.defaults: dict[str, Any] = {**_GROUP_KEYS, "lr": lr, "betas": tuple(betas), "eps": eps, "fused": fused, "foreach": foreach}
        # A list of one dict with "params", as torch optimizers have: GradScaler reads it.
        self.param_groups: list[dict[str, Any]] = [{**self.defaults, "params": list(params)}]
        self.state: dict[torch.nn.Parameter, dict[str, torch.Tensor]] = {}

    @property
    def params(self) -> list[torch.nn.Parameter]:
        return self.param_groups[0]["params"]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.params:
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        with_grad = [p for p in self.params if p.grad is not None]
        if not with_grad:
            return
        states = [self._state(p) for p in with_grad]
        beta1, beta2 = group["betas"]
        adam(
            with_grad,
            [p.grad for p in with_grad],
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [],
            [s["step"] for s in states],
            foreach=group["foreach"],
            fused=group["fused"],
            capturable=False,
            differentiable=False,
            has_complex=False,
            amsgrad=False,
            beta1=beta1,
            beta2=beta2,
            lr=group["lr"],
            weight_decay=0.0,
            eps=group["eps"],
            maximize=False,
        )

    def _state(self, param: torch.nn.Parameter) -> dict[str, torch.Tensor]:
        state = self.state.get(param)
        if state is None:
            state = self.state[param] = {
                "step": self._new_step(param),
                "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
                "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format),
            }
        return state

    # --- checkpoints: torch.optim.Adam's state_dict layout

    def state_dict(self) -> dict[str, Any]:
        index = {param: i for i, param in enumerate(self.params)}
        group = {key: value for key, value in self.param_groups[0].items() if key != "params"}
        return {
            "state": {index[param]: dict(state) for param, state in self.state.items()},
            "param_groups": [{**group, "params": list(range(len(self.params)))}],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Raises ValueError or KeyError when the saved state does not fit these parameters."""
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError("the saved parameter groups do not match these parameters")
        restored: dict[torch.nn.Parameter, dict[str, torch.Tensor]] = {}
        for index, saved in state_dict["state"].items():
            index = int(index)
            if not 0 <= index < len(self.params):
                raise ValueError(f"state for parameter {index}, of {len(self.params)}")
            param = self.params[index]
            state = {"step": self._new_step(param)}
            for key in ("exp_avg", "exp_avg_sq"):
                value = saved[key]
                if not isinstance(value, torch.Tensor) or value.shape != param.shape:
                    raise ValueError(f"parameter {index}: {key} has shape {getattr(value, 'shape', None)}, not {tuple(param.shape)}")
                # In the parameter's own layout (e.g. channels_last): the fused kernel walks
                # parameter, gradient and moments as flat memory.
                state[key] = torch.empty_like(param).copy_(value)
            state["step"] += torch.as_tensor(saved["step"], dtype=torch.float32).reshape(()).to(state["step"].device)
            restored[param] = state
        self.state = restored
        for key in _RESTORED_KEYS:
            if key in groups[0]:
                value = groups[0][key]
                self.param_groups[0][key] = tuple(value) if key == "betas" else value

    def _new_step(self, param: torch.nn.Parameter) -> torch.Tensor:
        """As torch.optim.Adam: a float32 step count, on the parameter's device for the fused kernel."""
        return torch.zeros((), dtype=torch.float32, device=param.device if self.defaults["fused"] else "cpu")
