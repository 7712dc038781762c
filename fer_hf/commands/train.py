"""Fine-tune a Vision Transformer on FER2013 with the Hugging Face Trainer.

    python train.py --data path/to/fer2013.csv --output_dir outputs/vit-fer
    python train.py my-recipe.json                 # a JSON file supplies defaults; later flags override
    python train.py --preset cpu-small --data path/to/fer2013.csv   # fer_hf/configs/cpu-small.json: TinyViT, CPU

The recipe: class-balanced sampling, MixUp, warmup → plateau → cosine LR, separate backbone and head learning
rates, frozen embeddings and first encoder layer, early stopping on validation loss.
"""

import logging
import math
import os
import sys
from dataclasses import asdict, dataclass, field
from typing import List, Optional

import torch
from transformers import EarlyStoppingCallback, TrainingArguments, set_seed

from ..cli import UserError, parse_args, preset_relative, run, run_record, setup_logging, teacher_run_record, utc_now
from ..inference import check_tta


logger = logging.getLogger("train")

DEFAULT_BACKBONE = "google/vit-base-patch16-224-in21k"  # the ViT-B/16 recipe's backbone (ImageNet-21k weights)


@dataclass
class ModelArguments:
    """Which backbone to fine-tune and how its head and frozen layers are set up."""

    preset: Optional[str] = field(
        default=None,
        metadata={"help": "A named recipe, fer_hf/configs/NAME.json (cpu-small: TinyViT from scratch at 64 px on CPU; demo: a tiny ViT)."},
    )

    model_name_or_path: str = field(
        default=DEFAULT_BACKBONE, metadata={"help": "Backbone: a Hub id or a local directory with config.json."}
    )
    image_processor_name: Optional[str] = field(
        default=None, metadata={"help": "Image processor to use, if not the one beside the backbone."}
    )
    train_from_scratch: bool = field(
        default=False, metadata={"help": "Initialise randomly from the backbone's config instead of its weights."}
    )
    conv_init: str = field(
        default="config",
        metadata={"help": "From scratch: 'config' (the architecture's init) or 'kaiming' (He init of conv+BatchNorm)."},
    )
    classifier_dropout: float = field(default=0.4, metadata={"help": "Dropout before the linear classifier."})
    freeze_layers: int = field(
        default=1, metadata={"help": "Freeze the embeddings and this many leading encoder layers (0: none)."}
    )
    channels_last: bool = field(
        default=False, metadata={"help": "Keep conv weights channels-last in training (MobileViT on CPU: ~1.3x faster)."}
    )


@dataclass
class DataArguments:
    """Where FER2013 comes from and how training images are augmented."""

    data: Optional[str] = field(
        default=None,
        metadata={"help": "FER2013 CSV (fer2013.csv[.gz]), image-folder root (train/, test/) or Hub dataset id."},
    )
    skip_malformed_rows: bool = field(
        default=False, metadata={"help": "Skip malformed CSV rows or unreadable images (and report how many)."}
    )
    data_cache_dir: Optional[str] = field(
        default=None, metadata={"help": "Cache for parsed data (default: $HF_DATASETS_CACHE/fer_hf)."}
    )
    max_train_samples: Optional[int] = field(default=None, metadata={"help": "Use only this many training rows."})
    max_eval_samples: Optional[int] = field(default=None, metadata={"help": "Use only this many validation rows."})
    crop_scale_min: float = field(default=0.8, metadata={"help": "Lower area bound of RandomResizedCrop (upper: 1)."})
    hflip_prob: float = field(default=0.5, metadata={"help": "Probability of a horizontal flip in training."})
    rotation_degrees: float = field(default=0.0, metadata={"help": "Random rotation in training, U(-d, d) degrees (0: off)."})
    erasing_prob: float = field(default=0.0, metadata={"help": "Probability of random erasing of a box in training (0: off)."})

    def __post_init__(self):
        if not 0.0 < self.crop_scale_min <= 1.0:
            raise UserError(f"--crop_scale_min must be in (0, 1], got {self.crop_scale_min}.")
        if not 0.0 <= self.erasing_prob <= 1.0:
            raise UserError(f"--erasing_prob must be in [0, 1], got {self.erasing_prob}.")


@dataclass
class FERTrainingArguments(TrainingArguments):
    """`TrainingArguments` with the FER2013 recipe's defaults and its extra knobs.

    `learning_rate` is the backbone's peak learning rate; `lr_scheduler_type` and `warmup_*` of the parent are
    ignored in favour of the warmup → plateau → cosine schedule below. `label_smoothing_factor` is applied
    to the (MixUp) training targets only.
    """

    output_dir: str = field(default="outputs/vit-fer2013", metadata={"help": "Where checkpoints and results go."})
    num_train_epochs: float = field(default=12.0, metadata={"help": "Total training epochs."})
    per_device_train_batch_size: int = field(default=32, metadata={"help": "Training batch size per device."})
    per_device_eval_batch_size: int = field(default=64, metadata={"help": "Evaluation batch size per device."})
    learning_rate: float = field(default=6e-5, metadata={"help": "Peak learning rate of the backbone."})
    weight_decay: float = field(default=0.05, metadata={"help": "Weight decay (not on biases and norms)."})
    optim: str = field(
        default="adamw_torch",
        metadata={"help": "Optimiser, by transformers' names (adamw_torch, adamw_torch_fused, sgd, adafactor, ...); the backbone "
                          "and the head keep their own learning rates."},
    )
    eval_strategy: str = field(default="epoch", metadata={"help": "When to evaluate: no, steps or epoch."})
    save_strategy: str = field(default="epoch", metadata={"help": "When to save: no, steps, epoch or best."})
    save_total_limit: Optional[int] = field(default=2, metadata={"help": "Keep at most this many checkpoints."})
    load_best_model_at_end: bool = field(default=True, metadata={"help": "Keep the checkpoint of lowest eval loss."})
    metric_for_best_model: Optional[str] = field(default="eval_loss", metadata={"help": "Metric that picks the best model."})
    greater_is_better: Optional[bool] = field(default=False, metadata={"help": "Whether a higher metric is better."})
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Must stay False: the on-the-fly transform needs the image column."}
    )
    logging_steps: float = field(default=50, metadata={"help": "Log every this many steps."})
    report_to: Optional[str] = field(default="none", metadata={"help": "Experiment trackers (none, tensorboard, ...)."})
    head_learning_rate: float = field(default=8e-4, metadata={"help": "Peak learning rate of the classification head."})
    warmup_epochs: float = field(default=3.0, metadata={"help": "Linear warmup length in epochs."})
    plateau_epochs: float = field(default=3.0, metadata={"help": "Epochs held at the peak LR before the cosine decay."})
    mixup_alpha: float = field(default=9.0, metadata={"help": "MixUp Beta(alpha, alpha) parameter."})
    mixup_prob: float = field(default=0.5, metadata={"help": "Probability that a training batch is mixed (0: off)."})
    cutmix_alpha: float = field(default=0.0, metadata={"help": "CutMix Beta(alpha, alpha) parameter (0: no CutMix, only MixUp)."})
    cutmix_switch_prob: float = field(
        default=0.5, metadata={"help": "With cutmix_alpha > 0: probability that a mixed batch is CutMix instead of MixUp (1: CutMix only)."}
    )
    balanced_sampling: bool = field(default=True, metadata={"help": "Draw training batches class-balanced."})
    balance_power: float = field(
        default=1.0, metadata={"help": "Class weight = frequency^-power: 1 draws classes equally, 0.5 by square root."}
    )
    distill_from: Optional[str] = field(
        default=None,
        metadata={"help": "Distil from this trained fer-hf model (checkpoint or ONNX export; folder or Hub id; same input "
                          "size): the training targets blend in its probabilities for each augmented batch."},
    )
    distill_alpha: float = field(default=0.5, metadata={"help": "Weight of the teacher's probabilities in the targets (1: the teacher's alone)."})
    distill_tta: str = field(default="hflip+zoom", metadata={"help": "The teacher's views of each batch: none, hflip or hflip+zoom."})
    distill_precompute: bool = field(
        default=False,
        metadata={"help": "Compute the teacher's probabilities once per training face (its views of the whole face, at its own "
                          "input size) and train against those, instead of running the teacher on every augmented batch: "
                          "one pass of the teacher over the data, cached in the output folder for a resumed run."},
    )
    self_distill_epochs: Optional[List[int]] = field(
        default=None,
        metadata={"help": "Self-distillation: at the end of each of these epochs (e.g. 15 22), the model's own probabilities of the "
                          "training faces (its --distill_tta views of each whole face) become the teacher blended into the "
                          "targets (at --distill_alpha) from then on. No teacher to train; one pass over the faces each."},
    )
    early_stopping_patience: int = field(
        default=5, metadata={"help": "Stop after this many evaluations without a lower eval loss (0: never)."}
    )
    auto_mixed_precision: bool = field(
        default=True, metadata={"help": "Use bf16 (or fp16) automatically when a CUDA GPU is present."}
    )
    restore_callback_states_from_checkpoint: bool = field(
        default=True, metadata={"help": "On resume, restore callback state (early stopping's patience counter)."}
    )

    def __post_init__(self):
        from ..mixup import check_mix_settings

        check_mix_settings(self.mixup_alpha, self.mixup_prob, self.cutmix_alpha, self.cutmix_switch_prob)  # before any data is read
        if not 0.0 <= self.distill_alpha <= 1.0:
            raise UserError(f"--distill_alpha must be in [0, 1], got {self.distill_alpha}.")
        check_tta(self.distill_tta)
        if self.self_distill_epochs:
            if self.distill_from:
                raise UserError("--self_distill_epochs makes the model its own teacher; drop --distill_from (or --self_distill_epochs).")
            if min(self.self_distill_epochs) < 1 or (self.max_steps <= 0 and max(self.self_distill_epochs) >= self.num_train_epochs):
                raise UserError(f"--self_distill_epochs must lie in 1..{math.ceil(self.num_train_epochs) - 1} (the epochs after it "
                                f"train against it), got {self.self_distill_epochs}.")  # fmt: skip
            if self.dataloader_num_workers and self.dataloader_persistent_workers:
                raise UserError("--self_distill_epochs refreshes the targets in the collator, which persistent workers would not see; "
                                "drop --dataloader_persistent_workers.")  # fmt: skip
        if self.auto_mixed_precision and torch.cuda.is_available() and not (self.bf16 or self.fp16):
            self.bf16 = torch.cuda.is_bf16_supported()
            self.fp16 = not self.bf16
        if not torch.cuda.is_available():
            self.dataloader_pin_memory = False  # pinning needs an accelerator
        super().__post_init__()


def main(args=None):
    # 1. Arguments: flags, or a JSON file of defaults followed by overriding flags.
    started = utc_now()
    argv = list(sys.argv[1:] if args is None else args)
    model_args, data_args, training_args = parse_args((ModelArguments, DataArguments, FERTrainingArguments), args)
    # The rest is imported once the flags are read, so `--help` and a wrong flag answer without datasets,
    # scikit-learn and torchvision (half of this command's start-up).
    from ..allocator import keep_freed_memory
    from ..data import check_data_source, decode_images, load_fer2013, require_split, take_first
    from ..inference import load_classifier
    from ..labels import NUM_LABELS
    from ..loading import load_image_processor
    from ..metrics import compute_metrics
    from ..mixup import MixupCollator
    from ..modeling import create_model
    from ..outputs import write_json
    from ..preprocess import ProcessorConfig
    from ..progress import use_calm_progress
    from ..sampling import BatchSeeds
    from ..trainer import (FERTrainer, SelfDistillationCallback, checkpoint_sessions, last_complete_checkpoint,
                           precompute_teacher_probs, prepare_output_dir)  # fmt: skip
    from ..transforms import FERTransform, collate

    if not data_args.data:
        raise UserError("No data given: pass --data path/to/fer2013.csv (or an image folder, or a Hub dataset id).")

    # The Hub token stays in memory: Trainer would pickle it into training_args.bin, and its own push would upload
    # that file. fer-hf pushes through fer_hf.hub instead (step 10), which uploads a list of known files.
    hub_token, push_to_hub = training_args.hub_token, training_args.push_to_hub
    training_args.hub_token, training_args.push_to_hub = None, False
    if push_to_hub:
        from ..hub import check_repo_id

        check_repo_id(training_args.hub_model_id or os.path.basename(os.path.normpath(training_args.output_dir)))

    # 2. Logging, seed, and an allocator that keeps freed memory (each step re-uses it instead of faulting it in).
    setup_logging(training_args.get_process_log_level())
    keep_freed_memory()
    logger.info("Training on %s with %s", data_args.data, model_args.model_name_or_path)
    set_seed(training_args.seed)

    # 3. Everything that can be checked before the data is parsed, so a wrong flag costs seconds: the data path, the
    #    output folder, the checkpoint to resume from, the model, its image processor and the teacher.
    check_data_source(data_args.data)
    prepare_output_dir(training_args.output_dir, training_args.resume_from_checkpoint is not None, training_args.overwrite_output_dir,
                       inputs=[model_args.model_name_or_path, data_args.data, training_args.distill_from], is_main=training_args.should_save)  # fmt: skip
    checkpoint = training_args.resume_from_checkpoint
    if checkpoint in ("last", "True", "true"):
        checkpoint = last_complete_checkpoint(training_args.output_dir)
        if checkpoint is None:
            raise UserError(f"--resume_from_checkpoint: no complete checkpoint-* folder in {training_args.output_dir}.")
        logger.info("Resuming from %s", checkpoint)
    elif checkpoint is not None and not os.path.isdir(checkpoint):
        raise UserError(f"--resume_from_checkpoint {checkpoint} is not a directory; pass a checkpoint-* folder or 'last'.")
    earlier_sessions = checkpoint_sessions(checkpoint) if checkpoint else []  # for the run record: all of its time

    #    The model and image processor; FER2013's id2label goes into the config.
    model = create_model(
        model_args.model_name_or_path,
        classifier_dropout=model_args.classifier_dropout,
        freeze_layers=model_args.freeze_layers,
        from_scratch=model_args.train_from_scratch,
        conv_init=model_args.conv_init,
    )
    if model_args.channels_last:
        model = model.to(memory_format=torch.channels_last)  # activations follow the weights' layout
    image_processor = load_image_processor(model_args.image_processor_name or model_args.model_name_or_path)
    logger.info(
        "Model: %s, %.1fM parameters (%.1fM trainable)",
        type(model).__name__,
        model.num_parameters() / 1e6,
        model.num_parameters(only_trainable=True) / 1e6,
    )

    #    A teacher to distil from, if any. Run on every batch, it sees the student's own inputs, so it must take the
    #    same size and pixels; precomputed, it sees each whole face through its own image processor.
    teacher = teacher_record = None
    if training_args.distill_from:
        teacher = load_classifier(training_args.distill_from, flag="--distill_from")  # a checkpoint or an ONNX export
        teacher_record = teacher_run_record(teacher.model_dir)
        student_pixels = ProcessorConfig.from_image_processor(image_processor)
        if not training_args.distill_precompute and (teacher.processor.height, teacher.processor.width, teacher.processor.mean, teacher.processor.std) != (
            student_pixels.height, student_pixels.width, student_pixels.mean, student_pixels.std):  # fmt: skip
            raise UserError(f"--distill_from {training_args.distill_from} takes {teacher.processor.height}x{teacher.processor.width} "
                            f"inputs normalised differently from the model being trained; distil from a model with the same image processor.")  # fmt: skip
        if teacher.kind == "pytorch" and not training_args.distill_precompute:  # on this process's device (its own GPU under torchrun), in the student's layout
            teacher.device = str(training_args.device)
            teacher.model.to(teacher.device, memory_format=torch.channels_last if model_args.channels_last else torch.preserve_format)
        logger.info("Distilling from %s (%s views, weight %.2f%s)", training_args.distill_from, training_args.distill_tta,
                    training_args.distill_alpha, ", precomputed" if training_args.distill_precompute else "")  # fmt: skip

    # 4. Data: FER2013 as a DatasetDict of train / validation / test.
    #    In a multi-process run the main process parses and caches the data first; the others then read its cache.
    with training_args.main_process_first(desc="loading FER2013"):
        dataset = load_fer2013(data_args.data, data_args.skip_malformed_rows, data_args.data_cache_dir)
    train_dataset = take_first(require_split(dataset, "train", data_args.data), data_args.max_train_samples)
    eval_dataset = take_first(require_split(dataset, "validation", data_args.data), data_args.max_eval_samples)

    # 5. On-the-fly transforms: augmentation for training only (labels read first, for the sampler). Images are
    #    decoded to raw grayscale once (cached by `datasets`), so a batch reaches the transform as one buffer.
    train_labels = train_dataset.with_format("numpy")["label"][:]
    with training_args.main_process_first(desc="decoding images"):
        train_dataset = decode_images(train_dataset)
        eval_dataset = decode_images(eval_dataset)
    probs = None  # a table of the teacher's probabilities per training face, which MixUp's collator blends in
    if teacher is not None and training_args.distill_precompute:
        with training_args.main_process_first(desc="computing the teacher's probabilities"):
            probs = precompute_teacher_probs(teacher, train_dataset, train_labels, training_args.distill_tta, training_args.output_dir,
                                             training_args.distill_from, progress=not training_args.disable_tqdm)  # fmt: skip
        teacher = None
    if probs is not None or training_args.self_distill_epochs:  # MixUp's collator looks each face's row up by index
        train_dataset = train_dataset.add_column("face_index", list(range(len(train_dataset))))
    crop_scale = (data_args.crop_scale_min, 1.0)
    # Augmentations and MixUp draw from one stream re-seeded per batch, so a resumed run redraws the same ones.
    batch_seeds = BatchSeeds(training_args.data_seed if training_args.data_seed is not None else training_args.seed)
    train_dataset.set_transform(FERTransform(image_processor, train=True, crop_scale=crop_scale, hflip_prob=data_args.hflip_prob,
                                             rotation_degrees=data_args.rotation_degrees, erasing_prob=data_args.erasing_prob,
                                             generator=batch_seeds.generator))  # fmt: skip
    eval_dataset.set_transform(FERTransform(image_processor, train=False))

    # 6. Trainer: balanced sampler and MixUp for training batches, backbone and head learning rates on the
    #    warmup → plateau → cosine schedule, early stopping on validation loss.
    train_collator = MixupCollator(NUM_LABELS, training_args.mixup_alpha, training_args.mixup_prob, training_args.label_smoothing_factor,
                                   generator=batch_seeds.generator, teacher_alpha=training_args.distill_alpha, teacher_probs=probs,
                                   cutmix_alpha=training_args.cutmix_alpha, cutmix_switch_prob=training_args.cutmix_switch_prob)  # fmt: skip
    callbacks = []
    if training_args.early_stopping_patience > 0 and training_args.eval_strategy != "no":
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=training_args.early_stopping_patience))
    if training_args.self_distill_epochs:
        callbacks.append(SelfDistillationCallback(train_collator, train_dataset, train_labels, ProcessorConfig.from_image_processor(image_processor),
                                                  training_args.self_distill_epochs, training_args.distill_tta, training_args.output_dir,
                                                  progress=not training_args.disable_tqdm))  # fmt: skip
    trainer = FERTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=image_processor,
        data_collator=collate,
        train_data_collator=train_collator,
        batch_seeds=batch_seeds,
        train_labels=train_labels if training_args.balanced_sampling else None,
        balance_power=training_args.balance_power,
        head_learning_rate=training_args.head_learning_rate,  # the optimiser: backbone and head learning rates,
        warmup_epochs=training_args.warmup_epochs,  # and the warmup → plateau → cosine schedule
        plateau_epochs=training_args.plateau_epochs,
        teacher=teacher,
        distill_alpha=training_args.distill_alpha,
        distill_tta=training_args.distill_tta,
        started_utc=started,
        earlier_sessions=earlier_sessions,
        compute_metrics=compute_metrics,
        callbacks=callbacks,
    )

    use_calm_progress(trainer)  # a bar with ETA and one line per evaluation, not raw log dicts

    # 7. Train, from the checkpoint resolved in step 3 when resuming.
    train_result = trainer.train(resume_from_checkpoint=checkpoint)

    # 8. Save the (best) model, its image processor, the resolved arguments, metrics and trainer state.
    trainer.save_model()
    trainer.save_metrics("train", train_result.metrics)
    trainer.save_state()
    if trainer.is_world_process_zero():
        resolved = {"model": {key: preset_relative(value) for key, value in asdict(model_args).items()}, "data": asdict(data_args), "training": training_args.to_dict(),
                    "dataset": {"train_rows": len(train_dataset), "validation_rows": len(eval_dataset)},
                    "run": run_record("train.py", argv, started, utc_now(), training_args.seed,
                                      os.path.basename(os.path.normpath(checkpoint)) if checkpoint else None, earlier_sessions)}  # fmt: skip
        resolved["training"]["push_to_hub"] = push_to_hub
        if teacher_record is not None:  # what the teacher cost belongs to what this model cost
            resolved["teacher_run"] = teacher_record
        write_json(os.path.join(training_args.output_dir, "fer_hf_args.json"), resolved, default=str)

    # 9. Evaluate the kept model on the validation split (FER2013 PublicTest).
    metrics = trainer.evaluate()
    trainer.save_metrics("eval", metrics)
    logger.info(
        "Validation (PublicTest) accuracy %.2f%%, macro-F1 %.3f; model saved to %s",
        100 * metrics["eval_accuracy"],
        metrics["eval_macro_f1"],
        training_args.output_dir,
    )

    # 10. Push the model, its image processor, the full validation report and fer-hf's model card.
    if push_to_hub and trainer.is_world_process_zero():
        from ..evaluation import predict_dataset, write_evaluation
        from ..hub import assemble_upload_folder, push_folder
        from ..inference import TorchClassifier

        repo_id = training_args.hub_model_id or os.path.basename(os.path.normpath(training_args.output_dir))
        eval_dataset.reset_format()
        probs, labels = predict_dataset(TorchClassifier.from_pretrained(training_args.output_dir), eval_dataset, progress=False)
        identifiers = {"model": repo_id, "data": data_args.data, "split": "validation"}
        eval_dir = os.path.join(training_args.output_dir, "eval")
        write_evaluation(eval_dir, labels, probs, identifiers)
        folder = assemble_upload_folder(training_args.output_dir, os.path.join(training_args.output_dir, "hub-upload"),
                                        eval_dir=eval_dir, repo_id=repo_id, overwrite=True)  # fmt: skip
        logger.info("Pushed %s: %s", folder, push_folder(str(folder), repo_id, training_args.hub_private_repo or False,
                                                         "fer-hf: model, image processor, evaluation and model card", hub_token))  # fmt: skip
    return metrics


if __name__ == "__main__":
    run(main)
