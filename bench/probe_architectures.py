"""Recipe probe: the CPU preset's MobileViT-XXS against a small plain CNN on one short, complete schedule.

Both models go through fer-hf's own pieces with the CPU preset's settings (configs/cpu-small.json): the FER2013
loader, the on-the-fly transform (RandomResizedCrop + flip), class-balanced sampling, MixUp with label smoothing,
AdamW (weight decay on weights only) and the warmup → plateau → cosine schedule, shortened to 1 + 1 epochs then
cosine. Only the model (and its input size) differs. The loop is written out here instead of using train.py
because the CNN is not a transformers architecture: it is the yardstick for how much a from-scratch model of this
size can learn per CPU-minute on FER2013, not a candidate for shipping.

    python bench/probe_architectures.py --data ../shared/data/fer2013-dev.csv.gz --model cnn --epochs 12
    python bench/probe_architectures.py --data ../shared/data/fer2013-dev.csv.gz --model mobilevit --epochs 12

Prints PublicTest accuracy after every epoch, then one Markdown row. Not run by `make bench` (about 25-50 minutes
a model with one thread).
"""

import argparse
import time

import numpy as np
import torch
from torch import nn
from transformers import ViTImageProcessor

from common import cpu_preset, header
from fer_hf.data import decode_images, load_fer2013, require_split
from fer_hf.labels import NUM_LABELS
from fer_hf.mixup import MixupCollator, soft_target_cross_entropy
from fer_hf.modeling import create_model, load_image_processor
from fer_hf.sampling import create_class_balanced_sampler
from fer_hf.schedule import create_warmup_plateau_cosine_scheduler
from fer_hf.transforms import FERTransform, collate


def plain_cnn(width: int = 16, num_classes: int = NUM_LABELS) -> nn.Sequential:
    """VGG-style: four stages of two 3x3 conv-BN-ReLU (width, 2x, 4x, 8x channels), max-pooling between, then global
    average pooling, dropout 0.2 and a linear head (width 16: 0.29M parameters)."""
    layers, channels = [], 3
    for stage, out in enumerate([width, 2 * width, 4 * width, 8 * width]):
        for _ in range(2):
            layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            channels = out
        if stage < 3:
            layers.append(nn.MaxPool2d(2))
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(channels, num_classes))
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    return model


def build(name: str, width: int, preset: dict):
    """(model, forward function returning logits, image processor) for `mobilevit` (the preset) or `cnn` (48 px)."""
    if name == "mobilevit":
        model = create_model(preset["model_name_or_path"], classifier_dropout=preset["classifier_dropout"], freeze_layers=0,
                             from_scratch=True, conv_init=preset["conv_init"])  # fmt: skip
        return model, lambda x: model(pixel_values=x).logits, load_image_processor(preset["model_name_or_path"])
    model = plain_cnn(width)
    return model, model, ViTImageProcessor(size={"height": 48, "width": 48}, image_mean=[0.5] * 3, image_std=[0.5] * 3)


def main():
    preset = cpu_preset()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="FER2013 CSV with Training and PublicTest rows.")
    parser.add_argument("--model", choices=["mobilevit", "cnn"], required=True)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--lr", type=float, default=preset["learning_rate"], help="Peak AdamW learning rate.")
    parser.add_argument("--width", type=int, default=16, help="CNN: channels of the first stage.")
    parser.add_argument("--threads", type=int, default=1, help="Torch threads (1: two probes can share 2 cores).")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    header(f"Recipe probe: {args.model}, {args.epochs} epochs, lr {args.lr}")

    dataset = load_fer2013(args.data)
    train, validation = require_split(dataset, "train", args.data), require_split(dataset, "validation", args.data)
    labels = np.asarray(train["label"])
    train, validation = decode_images(train), decode_images(validation)
    model, forward, processor = build(args.model, args.width, preset)
    model = model.to(memory_format=torch.channels_last)
    train.set_transform(FERTransform(processor, train=True, crop_scale=(preset["crop_scale_min"], 1.0)))
    validation.set_transform(FERTransform(processor, train=False))
    generator = torch.Generator().manual_seed(args.seed)
    sampler = create_class_balanced_sampler(labels, NUM_LABELS, generator, power=preset["balance_power"])
    mixup = MixupCollator(NUM_LABELS, preset["mixup_alpha"], preset["mixup_prob"], preset["label_smoothing_factor"])
    loader = torch.utils.data.DataLoader(train, batch_size=preset["per_device_train_batch_size"], sampler=sampler,
                                         drop_last=True, collate_fn=mixup)  # fmt: skip
    eval_loader = torch.utils.data.DataLoader(validation, batch_size=preset["per_device_eval_batch_size"], collate_fn=collate)
    groups = [{"params": [p for p in model.parameters() if p.ndim > 1], "weight_decay": preset["weight_decay"]},
              {"params": [p for p in model.parameters() if p.ndim <= 1], "weight_decay": 0.0}]  # fmt: skip
    optimizer = torch.optim.AdamW(groups, lr=args.lr)
    scheduler = create_warmup_plateau_cosine_scheduler(optimizer, len(loader), len(loader), len(loader) * args.epochs)
    parameters = sum(p.numel() for p in model.parameters()) / 1e6

    start, accuracy = time.time(), 0.0
    for epoch in range(1, args.epochs + 1):
        model.train()
        for batch in loader:
            loss = soft_target_cross_entropy(forward(batch["pixel_values"].contiguous(memory_format=torch.channels_last)), batch["labels"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        model.eval()
        correct = 0
        with torch.inference_mode():
            for batch in eval_loader:
                logits = forward(batch["pixel_values"].contiguous(memory_format=torch.channels_last))
                correct += int((logits.argmax(1) == batch["labels"]).sum())
        accuracy = correct / len(validation)
        print(f"epoch {epoch}/{args.epochs}: PublicTest accuracy {100 * accuracy:.2f}%, {(time.time() - start) / 60:.1f} min", flush=True)

    print("\n| model | parameters | epochs | lr | threads | PublicTest accuracy | minutes |\n|---|---|---|---|---|---|---|")
    print(f"| {args.model} | {parameters:.2f}M | {args.epochs} | {args.lr:g} | {args.threads} | {100 * accuracy:.2f}% | "
          f"{(time.time() - start) / 60:.1f} |")


if __name__ == "__main__":
    main()
