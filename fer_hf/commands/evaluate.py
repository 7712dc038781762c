"""Evaluate a FER2013 model (PyTorch checkpoint or ONNX export) beyond accuracy.

    python evaluate_model.py --model_dir outputs/vit-fer2013 --data fer2013.csv --split validation
    python evaluate_model.py --compare exports/onnx exports/onnx-int8 --data fer2013.csv --split validation

Writes metrics.json, classification_report.txt, confusion_matrix.png, roc_curves.png, reliability_diagram.png,
predictions.csv and report.md to --output_dir; with --compare, one such folder per model and a side-by-side table.
"""

import logging
import os
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from ..cli import UserError, parse_args, run, setup_logging
from ..inference import load_classifier
from ..labels import SPLITS
from ..outputs import atomic_dir, check_output_dir, write_json


logger = logging.getLogger("evaluate")


@dataclass
class EvaluationArguments:
    """What to evaluate, on which data, and where the report goes."""

    model_dir: Optional[str] = field(
        default=None, metadata={"help": "A checkpoint from train.py or an ONNX folder from export.py."}
    )
    data: Optional[str] = field(default=None, metadata={"help": "FER2013 CSV, image folder or Hub dataset id."})
    split: str = field(
        default="test", metadata={"help": f"Split to evaluate: {', '.join(SPLITS)} (test = FER2013 PrivateTest)."}
    )
    output_dir: Optional[str] = field(
        default=None,
        metadata={"help": "Report folder (default: <model_dir>/eval-<split>; with --compare, outputs/comparison-<split>)."},
    )
    compare: Optional[List[str]] = field(
        default=None,
        metadata={"help": "Compare two models: --compare DIR_A DIR_B, or --model_dir DIR_A --compare DIR_B."},
    )
    batch_size: int = field(default=64, metadata={"help": "Faces per inference call."})
    tta: str = field(default="none", metadata={"help": "Test-time augmentation: none, hflip (mean with the mirror) or hflip+zoom (and a 10%% tighter view of both)."})
    max_samples: Optional[int] = field(default=None, metadata={"help": "Evaluate only the first N rows."})
    skip_malformed_rows: bool = field(default=False, metadata={"help": "Skip malformed CSV rows or images."})
    data_cache_dir: Optional[str] = field(default=None, metadata={"help": "Cache for parsed data."})
    no_progress: bool = field(default=False, metadata={"help": "Hide the progress bar."})
    overwrite: bool = field(default=False, metadata={"help": "Replace an --output_dir that already holds a report."})

    def model_dirs(self) -> list:
        dirs = ([self.model_dir] if self.model_dir else []) + list(self.compare or [])
        if not dirs:
            raise UserError("No model given: pass --model_dir DIR (or --compare DIR_A DIR_B).")
        if self.compare is not None and len(dirs) != 2:
            raise UserError(f"--compare needs exactly two models in all, got {len(dirs)}: {dirs}.")
        return dirs


def evaluate(model_dir: str, dataset, args: EvaluationArguments, output_dir: str, final_dir: Optional[str] = None):
    """Evaluate one model and write its report into `output_dir` (a staging folder that becomes `final_dir`, when
    given); returns (metrics, probabilities, labels)."""
    from ..evaluation import predict_dataset, write_evaluation

    classifier = load_classifier(model_dir, flag="--model_dir")
    logger.info("Evaluating %s model %s on %d %s examples", classifier.kind, model_dir, len(dataset), args.split)
    probs, labels = predict_dataset(classifier, dataset, args.batch_size, args.tta, progress=not args.no_progress)
    identifiers = {"model": model_dir, "model_format": classifier.kind, "data": args.data, "split": args.split, "tta": args.tta}
    metrics = write_evaluation(output_dir, labels, probs, identifiers, classifier.labels)
    print(
        f"{model_dir}: accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}, "
        f"ECE {metrics['ece']:.4f} on {metrics['num_examples']} {args.split} examples -> {final_dir or output_dir}/report.md"
    )
    return metrics, probs, labels


def main(args=None):
    # 1. Arguments.
    (args,) = parse_args((EvaluationArguments,), args)
    model_dirs = args.model_dirs()
    if not args.data:
        raise UserError("No data given: pass --data path/to/fer2013.csv (or an image folder, or a Hub dataset id).")
    if len(model_dirs) == 1:
        output_dir = args.output_dir or os.path.join(model_dirs[0], f"eval-{args.split}")
    else:
        output_dir = args.output_dir or os.path.join("outputs", f"comparison-{args.split}")
    check_output_dir(output_dir, args.overwrite, inputs=model_dirs)
    setup_logging()

    # 2. Data: one split, as the data layer reads it (datasets and scikit-learn are imported only now, so `--help`
    #    and a wrong flag answer at once).
    from ..data import load_split
    from ..evaluation import comparison_table, paired_comparison

    dataset = load_split(args.data, args.split, args.skip_malformed_rows, args.data_cache_dir, args.max_samples)

    # 3. One model: a report. Two models: a report each and a side-by-side table (the folder appears whole).
    if len(model_dirs) == 1:
        return evaluate(model_dirs[0], dataset, args, output_dir)[0]
    names = [os.path.basename(os.path.normpath(d)) or d for d in model_dirs]
    if names[0] == names[1]:
        names = ["model_a", "model_b"]
    with atomic_dir(output_dir) as root:
        (metrics_a, probs_a, labels), (metrics_b, probs_b, _) = [
            evaluate(d, dataset, args, os.path.join(root, name), os.path.join(output_dir, name))
            for d, name in zip(model_dirs, names)
        ]
        agreement = float(np.mean(probs_a.argmax(1) == probs_b.argmax(1)))
        paired = paired_comparison(labels, probs_a.argmax(1), probs_b.argmax(1))
        table = comparison_table(names[0], names[1], metrics_a, metrics_b, agreement, paired)
        write_json(root / "comparison.json",
                   {"models": model_dirs, "top1_agreement": agreement, "paired": paired, "table": table.splitlines()})
    print(table)
    return {"a": metrics_a, "b": metrics_b, "top1_agreement": agreement, "paired": paired}


if __name__ == "__main__":
    run(main)
