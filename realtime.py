#!/usr/bin/env python
"""Label every face in a webcam, video, image or folder of images with its emotion and confidence.

The same as `fer-hf realtime` (see `python realtime.py --help`); the code is in fer_hf/commands/realtime.py.
"""

from fer_hf.cli import run
from fer_hf.commands.realtime import main


if __name__ == "__main__":
    run(main)
