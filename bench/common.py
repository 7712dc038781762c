"""Helpers shared by the benchmark scripts: the machine description printed above every table."""

import os
import sys

# Scripts here are run as `python bench/NAME.py` from the repository root; make `fer_hf` importable.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fer_hf.cli import machine_description  # noqa: E402


def header(title: str) -> None:
    print(f"## {title}\n")
    print(f"machine: {machine_description()}")
    print(f"command: python {' '.join(sys.argv)}\n")
