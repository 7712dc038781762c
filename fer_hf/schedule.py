"""Learning-rate schedule: linear warmup → plateau at the peak → cosine decay to zero.

The multiplier at optimiser step `t`, with `W` warmup, `P` plateau and `D` decay steps:

    t < W:           t / W
    W <= t < W + P:  1
    after:           0.5 * (1 + cos(π * min(1, (t - W - P) / D)))
"""

import math
from functools import partial

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def warmup_plateau_cosine(step: int, warmup_steps: int, plateau_steps: int, decay_steps: int) -> float:
    """The LR multiplier at `step` (see the module docstring)."""
    # 1) linear warmup from 0 to the peak
    if step < warmup_steps:
        return step / warmup_steps
    # 2) hold the peak
    step -= warmup_steps
    if step < plateau_steps:
        return 1.0
    # 3) cosine decay from the peak to 0, then stay at 0
    progress = min(1.0, (step - plateau_steps) / max(1, decay_steps))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def create_warmup_plateau_cosine_scheduler(
    optimizer: Optimizer, warmup_steps: int, plateau_steps: int, total_steps: int
) -> LambdaLR:
    """A `LambdaLR` stepped once per optimiser step; the decay fills whatever follows the plateau."""
    if warmup_steps < 0 or plateau_steps < 0:
        raise ValueError(f"Phase lengths must be >= 0, got warmup={warmup_steps}, plateau={plateau_steps}.")
    decay_steps = max(1, total_steps - warmup_steps - plateau_steps)
    schedule = partial(
        warmup_plateau_cosine, warmup_steps=warmup_steps, plateau_steps=plateau_steps, decay_steps=decay_steps
    )
    return LambdaLR(optimizer, schedule)
