"""An exponential moving average (EMA) of the generator's and the discriminator's weights.

torch's ``AveragedModel`` keeps the averaged copies; after every training step
  average <- decay * average + (1 - decay) * weights
for every parameter and batch-norm buffer. Its first update copies the weights, so a new run's
average starts at the weights after step 1, and a resumed run that had none starts it at the
weights it resumes from (``start_from``). Checkpoints hold the copies' plain state dicts as
ema_generator.* and ema_discriminator.*, and the update count as ema.n_averaged (checkpoint.py).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .checkpoint import EMA_COUNT, EMA_PREFIXES, Checkpoint, has_ema, load_module_state


class WeightAverage:
    """The averages of one run's generator and discriminator (shared trunk, D head and Q head)."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, decay: float) -> None:
        # Copies of the modules as they are: on the training device, in its memory format.
        average = get_ema_multi_avg_fn(decay)
        self.averaged = {
            name: AveragedModel(module, multi_avg_fn=average, use_buffers=True)
            for name, module in (("generator", generator), ("discriminator", discriminator))
        }
        for model in self.averaged.values():
            model.requires_grad_(False)  # never trained: no optimizer sees them
            model.eval()  # its forward passes (the epoch grids) use the averaged batch-norm statistics

    @property
    def generator(self) -> nn.Module:
        return self.averaged["generator"].module

    @torch.no_grad()
    def update(self, generator: nn.Module, discriminator: nn.Module) -> None:
        """Fold in the weights after a training step (both optimizers have stepped)."""
        self.averaged["generator"].update_parameters(generator)
        self.averaged["discriminator"].update_parameters(discriminator)

    def start_from(self, generator: nn.Module, discriminator: nn.Module) -> None:
        """Start the average at these weights (a run resumed with an average it did not have)."""
        for model in self.averaged.values():
            model.n_averaged.zero_()
        self.update(generator, discriminator)  # a first update copies

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """ema_generator.*, ema_discriminator.* (the plain modules' state dicts) and ema.n_averaged."""
        tensors = {
            f"{EMA_PREFIXES[name]}.{key}": value
            for name, model in self.averaged.items()
            for key, value in model.module.state_dict().items()
        }
        tensors[EMA_COUNT] = self.averaged["generator"].n_averaged  # the two are updated together
        return tensors

    def restore(self, checkpoint: Checkpoint) -> bool:
        """Load the averages saved in ``checkpoint``; False (nothing loaded) if it has none."""
        if not has_ema(checkpoint.tensors):
            return False
        for name, model in self.averaged.items():
            load_module_state(checkpoint, EMA_PREFIXES[name], model.module)
            model.n_averaged.copy_(checkpoint.tensors[EMA_COUNT])
        return True
