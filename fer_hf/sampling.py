"""Class-balanced sampling for FER2013's skewed training split (Disgust is 1.5% of it, Happy 25%)."""

from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler


def class_balanced_weights(labels: Sequence[int], num_classes: int) -> torch.Tensor:
    """Per-example weights proportional to the inverse frequency of the example's class.

    Every class then carries the same total weight, so in expectation each is drawn equally often.
    """
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels, minlength=num_classes)
    return torch.as_tensor(1.0 / counts[labels], dtype=torch.double)


def create_class_balanced_sampler(
    labels: Sequence[int], num_classes: int, generator: Optional[torch.Generator] = None
) -> WeightedRandomSampler:
    """A `WeightedRandomSampler` drawing `len(labels)` examples with replacement, balanced over classes."""
    weights = class_balanced_weights(labels, num_classes)
    return WeightedRandomSampler(weights, num_samples=len(weights), replacement=True, generator=generator)
