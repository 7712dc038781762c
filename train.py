#!/usr/bin/env python
"""Fine-tune a Vision Transformer on FER2013 with the Hugging Face Trainer.

The same as `fer-hf train` (see `python train.py --help`); the code is in fer_hf/commands/train.py.
"""

from fer_hf.cli import run
from fer_hf.commands.train import main


if __name__ == "__main__":
    run(main)
