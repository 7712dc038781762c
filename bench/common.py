"""Helpers shared by the benchmark scripts: the machine description printed above every table, the CPU preset."""

import json
import os
import sys

# Scripts here are run as `python bench/NAME.py` from the repository root; make `fer_hf` importable.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from fer_hf.cli import PRESETS_DIR, machine_description  # noqa: E402


def cpu_preset_name(image_size: int) -> str:
    return f"CPU preset (TinyViT hybrid, {image_size} px)"


def cpu_preset() -> dict:
    """fer_hf/configs/cpu-small.json, the recipe `train.py --preset cpu-small` runs, with its backbone's image size."""
    with open(PRESETS_DIR / "cpu-small.json") as f:
        preset = json.load(f)
    preset["model_name_or_path"] = str(PRESETS_DIR / preset["model_name_or_path"])
    with open(os.path.join(preset["model_name_or_path"], "config.json")) as f:
        preset["image_size"] = json.load(f)["image_size"]
    preset["name"] = cpu_preset_name(preset["image_size"])
    return preset


def header(title: str) -> None:
    print(f"## {title}\n")
    print(f"machine: {machine_description()}")
    print(f"command: python {' '.join(sys.argv)}\n")
