"""Calibrate a checkpoint's confidences with temperature scaling, fitted on the validation split.

    python -m fer_hf calibrate --model_dir outputs/cpu-small --data fer2013.csv --output_dir outputs/cpu-small-calibrated

Writes a copy of the checkpoint whose final linear layer is divided by the fitted temperature T (predictions are
unchanged; the confidences fit the validation accuracy better) and `calibration.json` (T, and validation NLL and
ECE before and after). Export, evaluate and push the copy as any checkpoint.
"""

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..cli import UserError, parse_args, run, setup_logging
from ..outputs import atomic_dir, check_output_dir, write_json


logger = logging.getLogger("calibrate")
CARRIED = ("fer_hf_args.json", "train_results.json", "eval_results.json", "all_results.json")  # the run's records


@dataclass
class CalibrationArguments:
    model_dir: Optional[str] = field(default=None, metadata={"help": "A checkpoint from train.py (PyTorch, not ONNX)."})
    data: Optional[str] = field(default=None, metadata={"help": "FER2013 CSV, image folder or Hub dataset id."})
    split: str = field(default="validation", metadata={"help": "Split to fit T on (never the test split you report)."})
    output_dir: Optional[str] = field(default=None, metadata={"help": "Where the calibrated copy goes."})
    batch_size: int = field(default=256, metadata={"help": "Faces per inference call."})
    skip_malformed_rows: bool = field(default=False, metadata={"help": "Skip malformed CSV rows or images."})
    data_cache_dir: Optional[str] = field(default=None, metadata={"help": "Cache for parsed data."})
    overwrite: bool = field(default=False, metadata={"help": "Replace an --output_dir that already holds files."})


def main(args=None) -> dict:
    (args,) = parse_args((CalibrationArguments,), args)
    from ..calibration import fit_temperature, nll, scale_logits  # after the flags: `--help` answers without them
    from ..data import load_split
    from ..evaluation import expected_calibration_error, predict_dataset
    from ..inference import TorchClassifier, load_classifier, softmax

    if not args.model_dir or not args.data or not args.output_dir:
        raise UserError("Pass --model_dir CHECKPOINT --data fer2013.csv --output_dir OUT.")
    if args.split == "test":
        raise UserError("Fit the temperature on the validation split, not on the test split you report.")
    check_output_dir(args.output_dir, args.overwrite, inputs=[args.model_dir])
    setup_logging()
    classifier = load_classifier(args.model_dir, flag="--model_dir")
    if not isinstance(classifier, TorchClassifier):
        raise UserError(f"{args.model_dir} is an ONNX export; calibrate the PyTorch checkpoint, then export the copy.")

    dataset = load_split(args.data, args.split, args.skip_malformed_rows, args.data_cache_dir)
    probs, labels = predict_dataset(classifier, dataset, args.batch_size)
    logits = np.log(np.clip(probs, 1e-12, None))  # log-softmax: the logits up to a per-face constant, which T keeps
    temperature = fit_temperature(logits, labels)
    calibrated = softmax(logits / temperature)
    report = {"model_dir": args.model_dir, "data": args.data, "split": args.split, "num_examples": int(len(labels)),
              "temperature": temperature, "nll_before": nll(logits, labels), "nll_after": nll(logits, labels, temperature),
              "ece_before": expected_calibration_error(probs, labels), "ece_after": expected_calibration_error(calibrated, labels)}  # fmt: skip

    scale_logits(classifier.model, temperature)
    with atomic_dir(args.output_dir) as root:
        classifier.model.save_pretrained(root)
        for name in ("preprocessor_config.json", *CARRIED):
            if (Path(args.model_dir) / name).is_file():
                shutil.copy2(Path(args.model_dir) / name, root / name)
        write_json(root / "calibration.json", report)
    print(f"temperature {temperature:.3f}: {args.split} NLL {report['nll_before']:.4f} -> {report['nll_after']:.4f}, "
          f"ECE {report['ece_before']:.4f} -> {report['ece_after']:.4f} ({len(labels)} faces) -> {args.output_dir}")
    return report


if __name__ == "__main__":
    run(main)
