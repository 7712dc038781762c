#!/usr/bin/env python
"""Export a FER2013 checkpoint to ONNX with Optimum, quantize it to dynamic int8, and verify both.

The same as `fer-hf export` (see `python export.py --help`); the code is in fer_hf/commands/export.py.
"""

from fer_hf.cli import run
from fer_hf.commands.export import main


if __name__ == "__main__":
    run(main)
