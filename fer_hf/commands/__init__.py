"""The `fer-hf` console command: one entry point, a subcommand per job.

    fer-hf analyze photo.jpg            fer-hf realtime            fer-hf train --preset cpu-small --data fer2013.csv
    fer-hf evaluate ...                 fer-hf export ...          fer-hf push ...           fer-hf demo

Each subcommand is a module of this package with a `main(args)`; the top-level scripts (`train.py`, `realtime.py`,
...) call the same functions. Nothing heavy is imported until a subcommand runs, so `fer-hf --help` is instant.
"""

import importlib
import sys
from typing import Optional, Sequence

# name → (module, summary)
COMMANDS = {
    "analyze": ("fer_hf.commands.analyze", "emotions of every face in photos, videos or folders → table (CSV/JSONL), annotated copies, timelines"),
    "realtime": ("fer_hf.commands.realtime", "live webcam or video: label every face; --benchmark for FPS"),
    "demo": ("fer_hf.app", "the web demo (Gradio): upload a photo or use the webcam"),
    "train": ("fer_hf.commands.train", "fine-tune a ViT (or the laptop preset) on FER2013"),
    "evaluate": ("fer_hf.commands.evaluate", "accuracy, per-class metrics, confusion matrix, ROC, calibration"),
    "calibrate": ("fer_hf.commands.calibrate", "temperature scaling fitted on validation: confidences that match accuracy"),
    "export": ("fer_hf.commands.export", "ONNX fp32 + dynamic int8 with Optimum, verified"),
    "push": ("fer_hf.hub", "model card + upload folder, pushed to the Hugging Face Hub"),
}


def usage() -> str:
    from .. import __version__

    lines = [f"fer-hf {__version__}: facial emotion recognition with a Hugging Face vision transformer", "",
             "usage: fer-hf COMMAND [options]   (fer-hf COMMAND --help for its options)", "", "commands:"]  # fmt: skip
    lines += [f"  {name:<9} {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "Python: import fer_hf; fer_hf.analyze('photo.jpg')"]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return
    if argv[0] in ("-V", "--version"):
        from .. import __version__

        print(f"fer-hf {__version__}")
        return
    if argv[0] not in COMMANDS:
        print(f"fer-hf: unknown command '{argv[0]}'; choose one of {', '.join(COMMANDS)} (fer-hf --help).", file=sys.stderr)
        sys.exit(2)
    from ..cli import run

    module = importlib.import_module(COMMANDS[argv[0]][0])
    sys.argv = [f"fer-hf {argv[0]}", *argv[1:]]  # argparse's prog and the run record name the subcommand
    run(lambda: module.main(argv[1:]))
