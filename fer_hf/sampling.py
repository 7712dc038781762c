"""Class-balanced sampling for FER2013's skewed training split (Disgust is 1.5% of it, Happy 25%)."""

from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import BatchSampler, Sampler, WeightedRandomSampler


def class_balanced_weights(labels: Sequence[int], num_classes: int, power: float = 1.0) -> torch.Tensor:
    """Per-example weights proportional to the inverse frequency of the example's class, raised to `power`.

    With `power=1` every class carries the same total weight, so in expectation each is drawn equally often;
    `power=0.5` (square-root balancing) draws a class in proportion to the square root of its size, a middle
    ground that still lifts Disgust without showing its 436 images sixteen times as often as Happy's.
    """
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels, minlength=num_classes)
    return torch.as_tensor(counts[labels].astype(np.float64) ** -power, dtype=torch.double)


class ClassBalancedSampler(WeightedRandomSampler):
    """A `WeightedRandomSampler` whose draws are a function of `(seed, epoch)` alone.

    Epoch `e` draws from a generator seeded with `seed + e` (`set_epoch`, which Trainer and accelerate call at the
    start of every epoch), as accelerate's `SeedableRandomSampler` does for plain shuffling. So a run resumed from a
    checkpoint redraws exactly the epoch it was killed in (Trainer then skips the batches already trained on), and
    every process of a distributed run draws the same sequence, which accelerate splits into distinct batches.
    """

    def __init__(self, weights: torch.Tensor, num_samples: int, seed: int = 0):
        super().__init__(weights, num_samples, replacement=True)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        yield from torch.multinomial(self.weights, self.num_samples, True, generator=generator).tolist()


def create_class_balanced_sampler(labels: Sequence[int], num_classes: int, seed: int = 0, power: float = 1.0) -> ClassBalancedSampler:
    """A sampler drawing `len(labels)` examples with replacement per epoch, balanced over classes."""
    weights = class_balanced_weights(labels, num_classes, power)
    return ClassBalancedSampler(weights, num_samples=len(weights), seed=seed)


class SeededShuffleSampler(Sampler):
    """Every example once per epoch, in a random order that is a function of `(seed, epoch)` (see
    `ClassBalancedSampler`); the plain-shuffling counterpart for `--balanced_sampling false`."""

    def __init__(self, num_samples: int, seed: int = 0):
        self.num_samples, self.seed, self.epoch = num_samples, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        yield from torch.randperm(self.num_samples, generator=torch.Generator().manual_seed(self.seed + self.epoch)).tolist()


class BatchSeeds:
    """The random stream of the training input pipeline, re-seeded for every batch from `(seed, epoch, batch)`.

    Augmentation (`FERTransform`) and MixUp (`MixupCollator`) draw from `generator` instead of torch's global RNG.
    Trainer restores the global RNG when it resumes a run, but accelerate's loader has by then already drawn one batch
    ahead, so augmentations drawn from the global RNG shift by a batch after every resume. Seeding each batch from its
    position makes the batch the same however the run got there (uninterrupted, resumed, or skipped to).
    """

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def reseed(self, epoch: int, batch: int) -> None:
        self.generator.manual_seed((self.seed * 1_000_003 + epoch * 100_003 + batch) % 2**63)


class SeededBatchSampler(BatchSampler):
    """A `BatchSampler` that re-seeds `seeds` with each batch's (epoch, index) as it hands the batch out.

    With the loader in the main process (`dataloader_num_workers=0`, the default), a batch's transform and collator
    run right after its indices are drawn and before the next batch's, so they see that batch's seed; accelerate's
    sharding (one batch in `num_processes` per process) and `skip_first_batches` keep the positions.
    """

    def __init__(self, sampler, batch_size: int, drop_last: bool, seeds: BatchSeeds):
        super().__init__(sampler, batch_size, drop_last)
        self.seeds = seeds

    def __iter__(self) -> Iterator[list]:
        epoch = getattr(self.sampler, "epoch", 0)
        for index, batch in enumerate(super().__iter__()):
            self.seeds.reseed(epoch, index)
            yield batch
