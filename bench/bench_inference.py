"""Per-face inference latency, batch 1 and 8, for ViT-B/16 and the CPU preset: PyTorch fp32, ORT fp32, ORT int8.

Each model is saved from its config with FER2013's labels (latency does not depend on the weights; the shipped
model is used for the preset when present), exported and quantized by fer-hf's own export path, and timed by
the same verification export.py prints (median of repeated runs after warm-up, on generated faces).

    python bench/bench_inference.py
"""

import argparse
import os
import tempfile

import torch
from transformers import AutoConfig, ViTConfig, ViTImageProcessor

from common import cpu_preset, cpu_preset_name, header
from fer_hf.export import export_onnx, quantize_dynamic, verify_export
from fer_hf.loading import load_image_processor
from fer_hf.modeling import create_model
from fer_hf.demo.synthetic import generate

SHIPPED = "models/fer2013-cpu-small"


def checkpoint(kind: str, root: str) -> str:
    path = os.path.join(root, kind)
    if kind == "cpu-small" and os.path.isfile(os.path.join(SHIPPED, "model.safetensors")):
        return SHIPPED
    if kind == "vit-base":
        ViTConfig().save_pretrained(path)
        ViTImageProcessor(size={"height": 224, "width": 224}, image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(path)
    source = path if kind == "vit-base" else cpu_preset()["model_name_or_path"]
    model = create_model(source, from_scratch=True, freeze_layers=0)
    model.save_pretrained(path)
    load_image_processor(source).save_pretrained(path)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30, help="Timed runs per measurement.")
    parser.add_argument("--models", nargs="+", default=["cpu-small", "vit-base"], help="cpu-small and/or vit-base.")
    args = parser.parse_args()
    header("Per-face inference latency (ms per face, median)")
    faces = list(generate(16, seed=7)[0])
    print("| model | runtime | size MB | batch 1 | batch 8 |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.models:
            ckpt = checkpoint(kind, tmp)
            fp32 = export_onnx(ckpt, os.path.join(tmp, kind + "-onnx-fp32"))
            int8 = quantize_dynamic(fp32, os.path.join(tmp, kind + "-onnx-int8"))
            report = verify_export(ckpt, fp32, int8, faces, torch.get_num_threads(), args.repeats)
            size = AutoConfig.from_pretrained(ckpt).image_size  # the shipped model's, which may predate the preset
            name = cpu_preset_name(size) if kind == "cpu-small" else "ViT-B/16, 224 px"
            for runtime, latency in report["latency_ms_per_image"].items():
                print(f"| {name} | {runtime} | {report['sizes_mb'][runtime]:.1f} | {latency['batch_1']:.2f} | {latency['batch_8']:.2f} |")
            print(f"| {name} | int8 vs fp32 top-1 agreement | | {100 * report['int8_top1_agreement']:.1f}% | |")


if __name__ == "__main__":
    main()
