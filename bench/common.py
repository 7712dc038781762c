"""Helpers shared by the benchmark scripts: the machine description printed above every table."""

import os
import platform
import sys

import torch

# Scripts here are run as `python bench/NAME.py` from the repository root; make `fer_hf` importable.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def machine() -> str:
    """One line naming the CPU, its cores, torch's threads and the GPU, if any."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads, {gpu}"


def header(title: str) -> None:
    print(f"## {title}\n")
    print(f"machine: {machine()}")
    print(f"command: python {' '.join(sys.argv)}\n")
