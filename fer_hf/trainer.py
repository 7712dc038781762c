"""`FERTrainer`: `transformers.Trainer` with a class-balanced sampler, a training-only collator and soft-target loss.

Only three hooks change; the optimiser, schedule, metrics and callbacks are passed in by the caller:
- `_get_train_sampler` draws training batches with a class-balanced `WeightedRandomSampler`;
- `get_train_dataloader` uses `train_data_collator` (MixUp), so evaluation batches are never mixed;
- `compute_loss` takes soft targets (B, C) from MixUp or hard labels (B,) from evaluation.
`create_model_card` writes fer-hf's card (results read from `eval/metrics.json`) for `push_to_hub`.
"""

import os

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from transformers import Trainer

from .mixup import soft_target_cross_entropy
from .sampling import create_class_balanced_sampler


class FERTrainer(Trainer):
    """A `Trainer` for FER2013.

    Args:
        train_labels: Class index of every training example, for the balanced sampler (None: plain shuffling).
        train_data_collator: Collator for training batches only; `data_collator` serves evaluation.
        **kwargs: Passed to `transformers.Trainer`.
    """

    def __init__(self, *args, train_labels=None, train_data_collator: Optional[Callable] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.train_labels = train_labels
        self.train_data_collator = train_data_collator
        # compute_loss returns a batch mean, so let Trainer divide by the gradient-accumulation steps.
        self.model_accepts_loss_kwargs = False

    def _get_train_sampler(self, train_dataset=None):
        if self.train_labels is None:
            return super()._get_train_sampler(train_dataset)
        generator = torch.Generator().manual_seed(self.args.data_seed if self.args.data_seed is not None else self.args.seed)
        return create_class_balanced_sampler(
            self.train_labels, self.model.config.num_labels, generator=generator, power=getattr(self.args, "balance_power", 1.0)
        )

    def get_train_dataloader(self):
        if self.train_data_collator is None:
            return super().get_train_dataloader()
        eval_collator, self.data_collator = self.data_collator, self.train_data_collator
        try:
            return super().get_train_dataloader()
        finally:
            self.data_collator = eval_collator

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        # Leave `inputs` intact: Trainer.prediction_step reads the labels from it too.
        labels = inputs["labels"]
        outputs = model(**{key: value for key, value in inputs.items() if key != "labels"})
        logits = outputs.logits
        if labels.ndim == 2:
            loss = soft_target_cross_entropy(logits, labels.to(logits.device))
        else:
            loss = F.cross_entropy(logits.float(), labels.to(logits.device))
        return (loss, outputs) if return_outputs else loss

    def create_model_card(self, *args, **kwargs):
        """Write fer-hf's model card to `output_dir/README.md` (called by `push_to_hub`)."""
        if not self.is_world_process_zero():
            return
        from .hub import create_model_card

        eval_dir = os.path.join(self.args.output_dir, "eval")
        card = create_model_card(
            self.args.output_dir,
            eval_dir if os.path.isfile(os.path.join(eval_dir, "metrics.json")) else None,
            repo_id=self.hub_model_id or self.args.hub_model_id,
        )
        card.save(os.path.join(self.args.output_dir, "README.md"))
