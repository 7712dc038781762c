"""Training throughput (samples/s) of the CPU preset and of ViT-B/16 at 224 px, with the data/compute split.

Each model is built from its config (weights do not change speed), fed by the real training input path
(cached split decoded once → batch transform → class-balanced sampler → MixUp), and stepped with AdamW on the soft-target loss,
as FERTrainer does. On a CUDA GPU, ViT-B/16 also runs in bf16; the data column then says whether the CPU input
pipeline keeps up (data time per step well below compute time per step).

    python bench/bench_train.py --data fer2013.csv
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python bench/bench_train.py --data fer2013.csv --vit_steps 0

The second line keeps torch's and oneDNN's kernels to AVX2 on an AVX-512 machine: the instruction-set half of what an
AVX2-only CPU costs (not its clock, cores or memory).
"""

import argparse
import tempfile
import time

import torch
from torch.utils.data import DataLoader
from transformers import ViTConfig, ViTImageProcessor

from common import cpu_preset, header
from fer_hf.allocator import keep_freed_memory
from fer_hf.data import decode_images, load_fer2013
from fer_hf.mixup import MixupCollator, soft_target_cross_entropy
from fer_hf.loading import load_image_processor
from fer_hf.modeling import create_model
from fer_hf.sampling import create_class_balanced_sampler
from fer_hf.transforms import FERTransform


def measure(model, processor, train, labels, batch_size, steps, device="cpu", bf16=False):
    train.set_transform(FERTransform(processor, train=True))
    loader = DataLoader(train, batch_size=batch_size, sampler=create_class_balanced_sampler(labels, 7),
                        collate_fn=MixupCollator(7, 0.4, 0.3), num_workers=0)  # fmt: skip
    model.to(device).train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    data_time = compute_time = 0.0
    batches = iter(loader)
    for step in range(steps + 1):  # step 0 warms up and is not timed
        t0 = time.perf_counter()
        batch = next(batches)
        t1 = time.perf_counter()
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            logits = model(pixel_values=batch["pixel_values"].to(device, non_blocking=True)).logits
        loss = soft_target_cross_entropy(logits, batch["labels"].to(device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        if step:
            data_time, compute_time = data_time + t1 - t0, compute_time + t2 - t1
    return steps * batch_size / (data_time + compute_time), 1000 * data_time / steps, 1000 * compute_time / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="FER2013 CSV (or the synthetic demo CSV).")
    parser.add_argument("--steps", type=int, default=20, help="Timed steps for the CPU preset.")
    parser.add_argument("--vit_steps", type=int, default=3, help="Timed steps for ViT-B/16 on CPU (0: skip it).")
    args = parser.parse_args()
    header("Training throughput")
    keep_freed_memory()  # as train.py does
    train = decode_images(load_fer2013(args.data)["train"])  # as train.py does
    labels = train.with_format("numpy")["label"][:]
    rows = []
    preset = cpu_preset()
    model = create_model(preset["model_name_or_path"], classifier_dropout=preset["classifier_dropout"], freeze_layers=0,
                         from_scratch=True, conv_init=preset["conv_init"])  # fmt: skip
    if preset.get("channels_last"):
        model = model.to(memory_format=torch.channels_last)  # as train.py --channels_last does
    batch = preset["per_device_train_batch_size"]
    rows.append((preset["name"], "cpu fp32", batch,
                 *measure(model, load_image_processor(preset["model_name_or_path"]), train, labels, batch, args.steps)))  # fmt: skip
    if args.vit_steps or torch.cuda.is_available():
        with tempfile.TemporaryDirectory() as tmp:
            ViTConfig().save_pretrained(tmp)  # ViT-B/16 at 224 px, the in21k backbone's architecture
            vit = create_model(tmp, freeze_layers=1, from_scratch=True)
        processor = ViTImageProcessor(size={"height": 224, "width": 224}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    if args.vit_steps:
        rows.append(("ViT-B/16, 224 px, first layer frozen", "cpu fp32", 32, *measure(vit, processor, train, labels, 32, args.vit_steps)))
    if torch.cuda.is_available():
        rows.append(("ViT-B/16, 224 px, first layer frozen", "cuda bf16", 32,
                     *measure(vit, processor, train, labels, 32, 30, device="cuda", bf16=True)))  # fmt: skip
    else:
        print("(no CUDA GPU here: the GPU row is skipped)\n")
    print("| model | device | batch | samples/s | data ms/step | compute ms/step |\n|---|---|---|---|---|---|")
    for name, device, batch, rate, data_ms, compute_ms in rows:
        print(f"| {name} | {device} | {batch} | {rate:,.1f} | {data_ms:.1f} | {compute_ms:.1f} |")


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
