"""Class-balanced sampling for FER2013's skewed training split (Disgust is 1.5% of it, Happy 25%)."""

from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler


def class_balanced_weights(labels: Sequence[int], num_classes: int, power: float = 1.0) -> torch.Tensor:
    """Per-example weights proportional to the inverse frequency of the example's class, raised to `power`.

    With `power=1` every class carries the same total weight, so in expectation each is drawn equally often;
    `power=0.5` (square-root balancing) draws a class in proportion to the square root of its size, a middle
    ground that still lifts Disgust without showing its 436 images sixteen times as often as Happy's.
    """
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels, minlength=num_classes)
    return torch.as_tensor(counts[labels].astype(np.float64) ** -power, dtype=torch.double)


def create_class_balanced_sampler(
    labels: Sequence[int], num_classes: int, generator: Optional[torch.Generator] = None, power: float = 1.0
) -> WeightedRandomSampler:
    """A `WeightedRandomSampler` drawing `len(labels)` examples with replacement, balanced over classes."""
    weights = class_balanced_weights(labels, num_classes, power)
    return WeightedRandomSampler(weights, num_samples=len(weights), replacement=True, generator=generator)
