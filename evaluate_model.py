#!/usr/bin/env python
"""Evaluate a FER2013 model (PyTorch checkpoint or ONNX export) beyond accuracy.

The same as `fer-hf evaluate` (see `python evaluate_model.py --help`); the code is in fer_hf/commands/evaluate.py.
"""

from fer_hf.cli import run
from fer_hf.commands.evaluate import main


if __name__ == "__main__":
    run(main)
