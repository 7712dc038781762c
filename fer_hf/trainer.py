"""`FERTrainer`: `transformers.Trainer` with a class-balanced sampler, a training-only collator, soft-target loss,
and checkpoints that resume into the very same run.

The hooks that change:
- `create_optimizer`: the optimiser `--optim` names (transformers' names and settings; fer-hf's default is
  `adamw_torch`) with the backbone and the head at their own learning rates, no decay on biases and norms
  (`fer_hf.modeling.create_param_groups`);
- `create_scheduler`: linear warmup → plateau at the peak → cosine decay to zero, which is transformers'
  warmup-stable-decay schedule (`get_wsd_schedule`); the phases are given in epochs and turned into optimiser steps
  from the length of Trainer's own training loader;
- `_get_train_sampler` draws training batches with `ClassBalancedSampler` (or shuffles with
  `SeededShuffleSampler`), seeded per epoch, so resuming redraws the same batches;
- `get_train_dataloader` builds the training loader with `train_data_collator` (MixUp), so evaluation batches
  are never mixed, and with `SeededBatchSampler`, which seeds each batch's augmentations from its position;
- `compute_loss` takes soft targets (B, C) from MixUp or hard labels (B,) from evaluation; with a teacher, the
  training targets are blended with the teacher's probabilities for the very same (augmented, mixed) batch, averaged
  over test-time views (knowledge distillation at temperature 1: cross-entropy against the blend is
  `(1 - alpha) * CE(targets) + alpha * CE(teacher)`, the KL term of Hinton et al. up to a constant);
- `_save_checkpoint` writes `fer_hf_checkpoint.json` last: the running loss sum (Trainer keeps it in memory only,
  so a resumed run reported a wrong `train_loss`), the sessions that trained up to this checkpoint (start, save time
  and machine of each, so the run record of a run resumed across kills or machines adds up all of its time), and the
  mark that the checkpoint is complete (`last_complete_checkpoint`).
`create_model_card` writes fer-hf's card (results read from `eval/metrics.json`) for `push_to_hub`.
`precompute_teacher_probs` runs a teacher once over the training faces instead (`--distill_precompute`), kept in the
output folder; `fer_hf.mixup.MixupCollator` blends those into the targets. `SelfDistillationCallback` makes the model
its own teacher at chosen epochs (`--self_distill_epochs`).
"""

import hashlib
import json
import logging
import math
import os
import re
import shutil
import time
import zipfile
from functools import partial
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from transformers import Trainer, TrainerCallback, get_wsd_schedule
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, seed_worker

from .cli import machine_description, utc_now
from .errors import UserError
from .mixup import blend_teacher, soft_target_cross_entropy
from .modeling import create_param_groups
from .outputs import atomic_file, check_output_dir, write_json
from .sampling import BatchSeeds, SeededBatchSampler, SeededShuffleSampler, create_class_balanced_sampler


logger = logging.getLogger(__name__)

CHECKPOINT_MARKER = "fer_hf_checkpoint.json"


class FERTrainer(Trainer):
    """A `Trainer` for FER2013.

    Args:
        train_labels: Class index of every training example, for the balanced sampler (None: plain shuffling).
        balance_power: Class weight = frequency^-power (1: classes equally often, 0.5: by square root).
        train_data_collator: Collator for training batches only; `data_collator` serves evaluation.
        batch_seeds: The training input pipeline's random stream, re-seeded per batch (see `BatchSeeds`); the
            transform and `train_data_collator` must draw from its generator. None: the global RNG, as Trainer does.
        head_learning_rate: Peak learning rate of the classification head (`args.learning_rate`: the backbone's).
        warmup_epochs: Linear warmup, in epochs.
        plateau_epochs: Epochs held at the peak before the cosine decay.
        teacher: A fixed classifier (`fer_hf.inference.EmotionClassifier`) to distil from; None: no distillation.
        distill_alpha: Weight of the teacher's probabilities in the training targets (1: the teacher's alone).
        distill_tta: The teacher's test-time views of each training batch (`fer_hf.inference.TTA_MODES`).
        started_utc: When this session of the run started (`fer_hf.cli.utc_now`), for the checkpoints' session list.
        earlier_sessions: The sessions before this one, from the checkpoint this one resumes (`checkpoint_sessions`);
            None: unknown (a checkpoint that did not record them), and so they stay in this run's checkpoints.
        **kwargs: Passed to `transformers.Trainer`.
    """

    def __init__(self, *args, train_labels: Optional[Sequence[int]] = None, balance_power: float = 1.0,
                 train_data_collator: Optional[Callable] = None, batch_seeds: Optional[BatchSeeds] = None,
                 head_learning_rate: Optional[float] = None,
                 warmup_epochs: float = 0.0, plateau_epochs: float = 0.0, teacher=None, distill_alpha: float = 0.5,
                 distill_tta: str = "none", started_utc: Optional[str] = None, earlier_sessions: Optional[Sequence[dict]] = (),
                 **kwargs):  # fmt: skip
        super().__init__(*args, **kwargs)
        self.train_labels = train_labels
        self.balance_power = balance_power
        self.train_data_collator = train_data_collator
        self.batch_seeds = batch_seeds
        self.head_learning_rate = head_learning_rate if head_learning_rate is not None else self.args.learning_rate
        self.warmup_epochs, self.plateau_epochs = warmup_epochs, plateau_epochs
        self.teacher, self.distill_alpha, self.distill_tta = teacher, distill_alpha, distill_tta
        self.started_utc = started_utc or utc_now()
        self.earlier_sessions = None if earlier_sessions is None else list(earlier_sessions)
        self._machine = machine_description()
        # compute_loss returns a batch mean, so let Trainer divide by the gradient-accumulation steps.
        self.model_accepts_loss_kwargs = False
        self._pending_loss = None

    def create_optimizer(self):
        if self.optimizer is None:
            args = self.args
            groups = create_param_groups(self.model, args.learning_rate, self.head_learning_rate, args.weight_decay)
            # Trainer(optimizer_cls_and_kwargs=...) first, else --optim: the order Trainer.create_optimizer reads them in.
            optimizer_cls, kwargs = self.optimizer_cls_and_kwargs or self.get_optimizer_cls_and_kwargs(args, self.model)
            if {"params", "model", "optimizer_dict"} & kwargs.keys():
                source = optimizer_cls.__name__ if self.optimizer_cls_and_kwargs else f"--optim {args.optim}"
                raise UserError(f"{source} builds its own parameter groups, which would drop fer-hf's two learning "
                                "rates and decay groups; pick an optimiser that takes parameter groups (adamw_torch, sgd, "
                                "adafactor, ...).")  # fmt: skip
            self.optimizer = optimizer_cls(groups, **kwargs)  # each group's own lr overrides kwargs' lr
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None:
            steps_per_epoch = self.update_steps_per_epoch()
            warmup = round(self.warmup_epochs * steps_per_epoch)
            plateau = round(self.plateau_epochs * steps_per_epoch)
            self.lr_scheduler = get_wsd_schedule(
                optimizer or self.optimizer, num_warmup_steps=warmup, num_stable_steps=plateau,
                num_decay_steps=max(1, num_training_steps - warmup - plateau), decay_type="cosine",
            )  # fmt: skip
            self._created_lr_scheduler = True
        return self.lr_scheduler

    def update_steps_per_epoch(self) -> int:
        """Optimiser steps in one epoch of this process's training loader, as Trainer counts them."""
        batches = len(self.get_train_dataloader())
        return max(1, math.ceil(batches / self.args.gradient_accumulation_steps))

    def _get_train_sampler(self, train_dataset=None):
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        if self.train_labels is None:
            return SeededShuffleSampler(len(train_dataset if train_dataset is not None else self.train_dataset), seed)
        return create_class_balanced_sampler(self.train_labels, self.model.config.num_labels, seed=seed, power=self.balance_power)

    def get_train_dataloader(self) -> DataLoader:
        # Trainer's own loader (`_get_dataloader`) with the training collator and a batch sampler that seeds each
        # batch's augmentations; columns are kept as they are (remove_unused_columns must be False: the on-the-fly
        # transform reads the image column).
        args = self.args
        sampler = self._get_train_sampler(self.train_dataset)
        seeds = self.batch_seeds or BatchSeeds(args.seed)  # unused by a pipeline that draws from the global RNG
        loader = DataLoader(
            self.train_dataset,
            batch_sampler=SeededBatchSampler(sampler, self._train_batch_size, args.dataloader_drop_last, seeds),
            collate_fn=self.train_data_collator or self.data_collator,
            num_workers=args.dataloader_num_workers,
            pin_memory=args.dataloader_pin_memory,
            persistent_workers=args.dataloader_persistent_workers,
            prefetch_factor=args.dataloader_prefetch_factor,
            worker_init_fn=partial(seed_worker, num_workers=args.dataloader_num_workers, rank=args.process_index),
            # Starting an epoch's iterator draws a base seed (for workers): from here, not from the global RNG, whose
            # state a resumed run restores before the iterator of its first epoch has started.
            generator=torch.Generator().manual_seed(seeds.seed),
        )
        return self.accelerator.prepare(loader)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        # Leave `inputs` intact: Trainer.prediction_step reads the labels from it too.
        labels = inputs["labels"]
        outputs = model(**{key: value for key, value in inputs.items() if key != "labels"})
        logits = outputs.logits
        if labels.ndim == 2:
            targets = labels.to(logits.device)
            if self.teacher is not None:
                targets = blend_teacher(targets, self.teacher_probs(inputs["pixel_values"]).to(logits.device), self.distill_alpha)
            loss = soft_target_cross_entropy(logits, targets)
        else:
            loss = F.cross_entropy(logits.float(), labels.to(logits.device))
        return (loss, outputs) if return_outputs else loss

    def teacher_probs(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The teacher's probabilities for a training batch, averaged over its `distill_tta` views."""
        pixels = pixel_values.detach().float().cpu().contiguous().numpy()
        return torch.from_numpy(self.teacher.predict_pixels(pixels, self.distill_tta)).float()

    # -- Faithful resume: the running loss sum travels with the checkpoint ------------------------------------

    def _maybe_log_save_evaluate(self, tr_loss, *args, **kwargs):
        # Trainer's loss since the last log; at a save, it is in `_total_loss_scalar` or still in here.
        self._pending_loss = tr_loss
        return super()._maybe_log_save_evaluate(tr_loss, *args, **kwargs)

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        if not self.args.should_save:
            return
        total = self._total_loss_scalar + (self._pending_loss.item() if self._pending_loss is not None else 0.0)
        folder = Path(self._get_output_dir(trial=trial)) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        session = {"started_utc": self.started_utc, "saved_utc": utc_now(), "machine": self._machine}
        write_json(folder / CHECKPOINT_MARKER, {"global_step": self.state.global_step, "total_loss": total,
                                                "sessions": None if self.earlier_sessions is None else [*self.earlier_sessions, session]})  # fmt: skip

    def train(self, resume_from_checkpoint=None, *args, **kwargs):
        self._resume_checkpoint = resume_from_checkpoint if isinstance(resume_from_checkpoint, str) else None
        self._resume_state_restored = False
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        # Mid-epoch, Trainer restores the RNG state only after it has drawn the first resumed batch, so that batch's
        # crops, flips and MixUp came from the wrong state. Restore it before the draw instead (once).
        if getattr(self, "_resume_checkpoint", None) and not self._resume_state_restored:
            self._restore_resume_state(self._resume_checkpoint)
        return super().get_batch_samples(epoch_iterator, num_batches, device)

    def _load_rng_state(self, checkpoint):
        # Trainer's own call: at an epoch boundary before the epoch's loader starts (right), mid-epoch after the
        # first batch was drawn (too late: `get_batch_samples` has done it).
        if not getattr(self, "_resume_state_restored", False):
            self._restore_resume_state(checkpoint)

    def _restore_resume_state(self, checkpoint) -> None:
        """The checkpoint's RNG states and running loss sum, after Trainer has reset its loss sum to zero."""
        super()._load_rng_state(checkpoint)
        self._resume_state_restored = True
        marker = Path(checkpoint) / CHECKPOINT_MARKER if checkpoint else None
        if marker is not None and marker.is_file():
            self._total_loss_scalar = json.loads(marker.read_text())["total_loss"]

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


def checkpoint_folders(output_dir: str) -> list:
    """The `checkpoint-N` folders in `output_dir`, newest (highest N) first."""
    pattern = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")
    found = ((int(m.group(1)), p) for p in Path(output_dir).glob(f"{PREFIX_CHECKPOINT_DIR}-*") if p.is_dir() and (m := pattern.match(p.name)))
    return [path for _, path in sorted(found, reverse=True)]


def prepare_output_dir(output_dir: str, resuming: bool, overwrite: bool, inputs: Sequence, is_main: bool) -> None:
    """Check train.py's `--output_dir` before any work, as every fer-hf command checks its output folder.

    A new run does not write into a folder that already holds files unless `--overwrite_output_dir` says so: another
    run's checkpoints there would take the new ones' places in Trainer's rotation (it keeps the highest steps) and in
    `--resume_from_checkpoint last`. With `--overwrite_output_dir` that run's `checkpoint-N` folders are removed (by the
    main process) and nothing else. The folder may never be, or hold, one of the run's inputs.
    """
    check_output_dir(output_dir, True, inputs)  # a file, or one of the run's inputs: refused always
    old = checkpoint_folders(output_dir)
    if not (resuming or overwrite):
        if old:
            raise UserError(f"--output_dir {output_dir} holds an earlier run's checkpoints ({old[0].name}); continue it with "
                            "--resume_from_checkpoint last, start again with --overwrite_output_dir true, or choose a new folder.")  # fmt: skip
        check_output_dir(output_dir, False, (), "--output_dir", "--overwrite_output_dir true")
    if old and not resuming and is_main:
        for folder in old:
            shutil.rmtree(folder)
        logger.info("Removed the earlier run's %s from %s (--overwrite_output_dir).", ", ".join(f.name for f in old), output_dir)


def checkpoint_sessions(checkpoint: str) -> Optional[list]:
    """The sessions that trained a run up to `checkpoint` (`started_utc`, `saved_utc`, `machine` each), oldest first;
    None for a checkpoint written before fer-hf recorded them."""
    sessions = (_read_marker(Path(checkpoint)) or {}).get("sessions")
    return sessions if isinstance(sessions, list) else None


def _read_marker(folder: Path) -> Optional[dict]:
    """A checkpoint's `fer_hf_checkpoint.json`, or None where it is missing or unreadable."""
    try:
        marker = json.loads((folder / CHECKPOINT_MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def last_complete_checkpoint(output_dir: str) -> Optional[str]:
    """The newest `checkpoint-N` folder that was written whole (its `fer_hf_checkpoint.json` is there and says N);
    incomplete ones, from a run killed while saving, are skipped with a note."""
    for folder in checkpoint_folders(output_dir):
        step = int(folder.name.rsplit("-", 1)[1])
        marker = _read_marker(folder)
        if marker is not None and marker.get("global_step") == step:
            return str(folder)
        logger.warning("Skipping %s: it was not written completely (the run was stopped while saving it).", folder)
    return None


# -- Distillation against precomputed teacher probabilities -------------------------------------------------------

TEACHER_PROBS_FILE = "teacher_probs.npz"
SELF_TEACHER_FILE = "self_teacher_probs-epoch{epoch}.npz"  # one per refresh, so a resume from any checkpoint finds its own


def _probs_key(labels, **identity) -> str:
    """What a saved table of probabilities was made from: its source and views, and the faces (count, label hash)."""
    labels = np.asarray(labels, dtype=np.int64)
    return json.dumps({**identity, "faces": len(labels), "labels_sha256": hashlib.sha256(labels.tobytes()).hexdigest()})


def _read_probs(path: Path, key: str) -> Optional[np.ndarray]:
    """The probabilities saved at `path` for `key`; None when missing, unreadable or made from something else."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            return saved["probs"] if str(saved["key"]) == key else None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None


def _predict_probs(classifier, dataset, labels, tta: str, who: str, progress: bool) -> np.ndarray:
    """`classifier`'s probabilities `(n, C)` of every whole face of `dataset`, averaged over its `tta` views, logged."""
    from .evaluation import predict_dataset

    started = time.monotonic()
    probs, _ = predict_dataset(classifier, dataset, batch_size=256, tta=tta, progress=progress)
    probs = probs.astype(np.float32)
    logger.info("%s probabilities for %d faces (%s views) took %.0f s; they agree with %.1f%% of the training labels",
                who, len(probs), tta, time.monotonic() - started, 100 * float((probs.argmax(1) == np.asarray(labels)).mean()))  # fmt: skip
    return probs


def _write_probs(path: Path, key: str, probs: np.ndarray) -> None:
    with atomic_file(path) as tmp, open(tmp, "wb") as file:
        np.savez(file, probs=probs, key=np.array(key))


def precompute_teacher_probs(teacher, dataset, labels, tta: str, output_dir: str, source: str, progress: bool = True) -> np.ndarray:  # fmt: skip
    """The teacher's probabilities `(n, C)` for every face of `dataset` (its whole face, averaged over its `tta` views),
    computed once and kept in `output_dir/teacher_probs.npz`, so a resumed run reads them back instead of running
    the teacher again. The file is used only when it was made for the same teacher, views and faces (`labels`, the
    dataset's label column, identify them)."""
    key = _probs_key(labels, teacher=str(source), tta=tta)
    path = Path(output_dir) / TEACHER_PROBS_FILE
    probs = _read_probs(path, key)
    if probs is not None:
        logger.info("Read the teacher's probabilities from %s", path)
        return probs
    probs = _predict_probs(teacher, dataset, labels, tta, "The teacher's", progress)
    _write_probs(path, key, probs)
    return probs


class SelfDistillationCallback(TrainerCallback):
    """Self-distillation, a born-again student within one run: at the end of each of `epochs`, the model's own
    probabilities of every training face (its `tta` views of the whole face, in eval mode) become the teacher
    probabilities that `collator` (a `MixupCollator`) blends into the targets of the epochs after. No teacher is
    trained; each refresh costs one pass over the training faces. Each refresh is kept in the output folder
    (`self_teacher_probs-epochN.npz`), so a resumed run takes up the one its checkpoint had."""

    def __init__(self, collator, dataset, labels, processor, epochs: Sequence[int], tta: str, output_dir: str,
                 progress: bool = True):  # fmt: skip
        self.collator, self.dataset, self.labels, self.processor = collator, dataset, labels, processor
        self.epochs, self.tta, self.output_dir, self.progress = sorted(set(epochs)), tta, Path(output_dir), progress

    def _file(self, epoch: int):
        return self.output_dir / SELF_TEACHER_FILE.format(epoch=epoch), _probs_key(self.labels, teacher=f"self@epoch{epoch}", tta=self.tta)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        done = [epoch for epoch in self.epochs if epoch <= (state.epoch or 0) + 1e-6]
        if not done:
            return
        path, key = self._file(done[-1])
        probs = _read_probs(path, key)
        if probs is not None:
            logger.info("Self-distillation: read the model's probabilities of epoch %d from %s", done[-1], path)
            self.collator.teacher_probs = probs
        elif abs(state.epoch - done[-1]) < 1e-6:  # the checkpoint is that epoch's end (saved just before the refresh)
            self._refresh(done[-1], model, args.should_save)
        else:
            raise UserError(f"Resuming at epoch {state.epoch:.2f} needs {path}, the model's own probabilities from epoch {done[-1]}, and it "
                            f"is missing or damaged; resume from the checkpoint of epoch {done[-1]} or an earlier one, or train again.")  # fmt: skip

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        epoch = round(state.epoch)
        if epoch in self.epochs and abs(state.epoch - epoch) < 1e-6:  # not the partial last epoch of a --max_steps run
            self._refresh(epoch, model, args.should_save)

    def _refresh(self, epoch: int, model, save: bool) -> None:
        from .inference import TorchClassifier

        was_training = model.training
        model.eval()
        try:
            probs = _predict_probs(TorchClassifier(model, self.processor), self.dataset, self.labels, self.tta,
                                   f"Self-distillation: the model's own epoch-{epoch}", self.progress)  # fmt: skip
        finally:
            model.train(was_training)
        if save:
            _write_probs(*self._file(epoch), probs)
        self.collator.teacher_probs = probs
