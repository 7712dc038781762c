"""MixUp and CutMix as a data collator, with soft targets and the matching soft-target cross-entropy.

MixUp (Zhang et al., 2018, "mixup: Beyond Empirical Risk Minimization") trains on convex combinations
`x = λ x_i + (1 - λ) x_j`, `y = λ y_i + (1 - λ) y_j` with `λ ~ Beta(α, α)`. CutMix (Yun et al., 2019) pastes a box
of `x_j` into `x_i` instead and weights the targets by the areas. As in timm, a batch is mixed with its own reverse,
label smoothing is folded into the one-hot targets, and a mixed batch is CutMix instead of MixUp with a switch
probability. timm's and torchvision's CutMix draw their boxes from the global numpy / torch random state; this one
draws from the collator's generator (the per-batch stream that makes a resumed run redraw the same batches), which
is why the box is drawn here.
"""

from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .errors import UserError
from .transforms import collate


def one_hot(target: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """One-hot targets with `smoothing` spread evenly over all classes; each row sums to one."""
    off_value = smoothing / num_classes
    on_value = 1.0 - smoothing + off_value
    return torch.full((target.size(0), num_classes), off_value).scatter_(1, target.long().view(-1, 1), on_value)


def blend_teacher(targets: torch.Tensor, teacher: torch.Tensor, alpha: float) -> torch.Tensor:
    """Distillation targets at temperature 1: `(1 - alpha) * targets + alpha * teacher`, both `(B, C)`."""
    return (1.0 - alpha) * targets + alpha * teacher.to(targets.dtype)


def mixup_target(target: torch.Tensor, num_classes: int, lam: float = 1.0, smoothing: float = 0.0,
                 teacher: Optional[torch.Tensor] = None, teacher_alpha: float = 0.0) -> torch.Tensor:  # fmt: skip
    """Soft targets for a batch mixed with its reverse: `λ y + (1 - λ) y.flip(0)`, where `y` is the smoothed one-hot
    target, blended with a teacher's probabilities `(B, C)` at weight `teacher_alpha` when they are given."""
    y = one_hot(target, num_classes, smoothing)
    if teacher is not None:
        y = blend_teacher(y, teacher, teacher_alpha)
    return lam * y + (1.0 - lam) * y.flip(0)


def cutmix_box(height: int, width: int, lam: float, generator: Optional[torch.Generator] = None) -> tuple[int, int, int, int]:
    """CutMix's box `(top, bottom, left, right)` for mixing weight `lam`: sides `sqrt(1 - lam)` of the image's, centred
    uniformly at random and clipped to the image (so its area can be smaller than `1 - lam`)."""
    ratio = float(np.sqrt(1.0 - lam))
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy = int(torch.randint(height, (), generator=generator))
    cx = int(torch.randint(width, (), generator=generator))
    top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
    left, right = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
    return top, bottom, left, right


def soft_target_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against probability targets, averaged over the batch."""
    return torch.sum(-target * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()


def check_mix_settings(alpha: float, prob: float, cutmix_alpha: float = 0.0, cutmix_switch_prob: float = 0.5) -> None:
    """Refuse MixUp / CutMix settings `MixupCollator` cannot use, with a `UserError` naming the value."""
    if alpha <= 0:
        raise UserError(f"MixUp alpha must be > 0, got {alpha}.")
    if cutmix_alpha < 0:
        raise UserError(f"CutMix alpha must be >= 0 (0: off), got {cutmix_alpha}.")
    for name, value in (("MixUp", prob), ("CutMix switch", cutmix_switch_prob)):
        if not 0.0 <= value <= 1.0:
            raise UserError(f"{name} probability must be in [0, 1], got {value}.")


class MixupCollator:
    """Collate `{"pixel_values", "labels"}` examples, then mix the batch with probability `prob`: MixUp, or CutMix
    with probability `cutmix_switch_prob` when `cutmix_alpha` > 0.

    The returned `labels` are always soft targets of shape `(B, num_classes)`, mixed or not, so the loss
    is the same function for every training batch. Use it for training batches only. With a table of teacher
    probabilities per training face (`teacher_probs`, `(n_faces, num_classes)`), examples that carry their row
    (`face_index`) get `(1 - teacher_alpha) * one_hot + teacher_alpha * teacher_probs[face_index]` as their targets
    before the mix (distillation at temperature 1, as `FERTrainer` blends a teacher run per batch). The table may be
    replaced between batches (self-distillation refreshes it); it is read in the process that collates, so keep
    `dataloader_num_workers` at 0 or the workers non-persistent.

    Args:
        num_classes: Number of classes.
        alpha: Beta(α, α) concentration; large α keeps λ near 0.5.
        prob: Probability that a batch is mixed.
        label_smoothing: Label smoothing applied to the one-hot targets.
        generator: Where λ is drawn from (`fer_hf.sampling.BatchSeeds.generator` in training); None: torch's global RNG.
        teacher_alpha: Weight of the teacher's probabilities in the targets.
        teacher_probs: The teacher's probabilities of every training face, in the training split's order (None: none).
        cutmix_alpha: CutMix's Beta(α, α) concentration (0: no CutMix).
        cutmix_switch_prob: Probability that a mixed batch is CutMix rather than MixUp (1: CutMix only).
    """

    def __init__(self, num_classes: int, alpha: float = 9.0, prob: float = 0.5, label_smoothing: float = 0.0,
                 generator: Optional[torch.Generator] = None, teacher_alpha: float = 0.0,
                 teacher_probs: Optional[np.ndarray] = None, cutmix_alpha: float = 0.0, cutmix_switch_prob: float = 0.5):  # fmt: skip
        check_mix_settings(alpha, prob, cutmix_alpha, cutmix_switch_prob)
        self.num_classes = num_classes
        self.alpha = alpha
        self.prob = prob
        self.label_smoothing = label_smoothing
        self.generator = generator
        self.teacher_alpha = teacher_alpha
        self.teacher_probs = teacher_probs
        self.cutmix_alpha = cutmix_alpha
        self.cutmix_switch_prob = cutmix_switch_prob

    def sample_mix(self) -> tuple[float, bool]:
        """`(λ, cutmix)` for the next batch: with probability `prob` a mix, CutMix with probability
        `cutmix_switch_prob` (when `cutmix_alpha` > 0) and λ ~ Beta of its α; else `(1, False)`, no mixing."""
        if self.prob > 0 and torch.rand((), generator=self.generator).item() < self.prob:
            cutmix = self.cutmix_alpha > 0 and torch.rand((), generator=self.generator).item() < self.cutmix_switch_prob
            alpha = self.cutmix_alpha if cutmix else self.alpha
            # torch.distributions takes no generator: the Beta draw comes from numpy, seeded from the same stream.
            rng = np.random.default_rng(int(torch.randint(2**62, (), generator=self.generator)))
            return float(rng.beta(alpha, alpha)), cutmix
        return 1.0, False

    def sample_lambda(self) -> float:
        """λ for the next batch (see `sample_mix`)."""
        return self.sample_mix()[0]

    def __call__(self, examples: Sequence[dict]) -> dict:
        batch = collate(examples)
        index = batch.pop("face_index", None)
        teacher = None if index is None or self.teacher_probs is None else torch.as_tensor(self.teacher_probs[index.numpy()])
        lam, cutmix = self.sample_mix()
        pixels = batch["pixel_values"]
        if cutmix:
            top, bottom, left, right = cutmix_box(pixels.shape[-2], pixels.shape[-1], lam, self.generator)
            pasted = pixels[..., top:bottom, left:right].flip(0)
            batch["pixel_values"] = pixels = pixels.clone()  # collate may hand back the dataset's own tensor
            pixels[..., top:bottom, left:right] = pasted
            lam = 1.0 - (bottom - top) * (right - left) / (pixels.shape[-2] * pixels.shape[-1])  # the box's true area
        elif lam < 1.0:
            batch["pixel_values"] = lam * pixels + (1.0 - lam) * pixels.flip(0)
        batch["labels"] = mixup_target(batch["labels"], self.num_classes, lam, self.label_smoothing,
                                       teacher, self.teacher_alpha)  # fmt: skip
        return batch
