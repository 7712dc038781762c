#!/usr/bin/env python
"""Export a FER2013 checkpoint to ONNX with Optimum, quantize it to dynamic int8, and verify both.

    python export.py --model_dir outputs/vit-fer2013 --output_dir exports/vit-fer2013
    python export.py --model_dir outputs/vit-fer2013 --output_dir exports/vit-fer2013 --data fer2013.csv --split validation

Writes <output_dir>/onnx (fp32) and <output_dir>/onnx-int8, each loadable with from_pretrained, and
<output_dir>/export_report.json with parity, sizes and latency (printed as a table).
"""

import json
import logging
import os
from dataclasses import dataclass, field
from typing import List, Optional

import torch

from fer_hf.cli import UserError, machine_description, parse_args, run, setup_logging
from fer_hf.export import (
    DEFAULT_QUANTIZE_OPERATORS,
    QUANTIZATION_TARGETS,
    check_quantization,
    detect_quantization_target,
    export_onnx,
    format_report,
    optimize_onnx,
    quantize_dynamic,
    verify_export,
)
from fer_hf.synthetic import generate


logger = logging.getLogger("export")


@dataclass
class ExportArguments:
    """What to export, how to quantize it, and how to check the result."""

    model_dir: Optional[str] = field(default=None, metadata={"help": "Checkpoint folder written by train.py."})
    output_dir: Optional[str] = field(default=None, metadata={"help": "Where the onnx/ and onnx-int8/ folders go."})
    opset: Optional[int] = field(default=None, metadata={"help": "ONNX opset (default: Optimum's choice for the model)."})
    optimization_level: int = field(
        default=0, metadata={"help": "ORTOptimizer graph optimisation of the fp32 export: 0 (off), 1, 2 or 99."}
    )
    quantization_target: str = field(
        default="auto", metadata={"help": f"auto (detect this CPU) or one of {', '.join(QUANTIZATION_TARGETS)}."}
    )
    per_channel: bool = field(default=False, metadata={"help": "Quantize weights per channel instead of per tensor."})
    quantize_operators: List[str] = field(
        default_factory=lambda: list(DEFAULT_QUANTIZE_OPERATORS),
        metadata={"help": "ONNX operators given int8 weights (MatMul: the transformer layers; add Conv for convolutions)."},
    )
    skip_quantization: bool = field(default=False, metadata={"help": "Export fp32 only."})
    # Not "onnx": Optimum's `subfolder="onnx"` would also match "onnx-int8/model.onnx" (a prefix match).
    fp32_name: str = field(default="onnx-fp32", metadata={"help": "Sub-folder name of the fp32 export."})
    int8_name: str = field(default="onnx-int8", metadata={"help": "Sub-folder name of the int8 export."})
    data: Optional[str] = field(default=None, metadata={"help": "Also report fp32 and int8 accuracy on this data."})
    split: str = field(default="validation", metadata={"help": "Split for the accuracy check."})
    max_samples: Optional[int] = field(default=None, metadata={"help": "Use only the first N rows for accuracy."})
    num_faces: int = field(default=64, metadata={"help": "Generated faces for the parity and latency checks."})
    threads: int = field(default=0, metadata={"help": "Threads for the latency check (0: all cores torch sees)."})
    repeats: int = field(default=20, metadata={"help": "Timed runs per latency measurement (median reported)."})


def main(args=None):
    # 1. Arguments.
    (args,) = parse_args((ExportArguments,), args)
    if not args.model_dir or not args.output_dir:
        raise UserError("Pass --model_dir (a checkpoint from train.py) and --output_dir.")
    setup_logging()
    target = detect_quantization_target() if args.quantization_target == "auto" else args.quantization_target
    if not args.skip_quantization:
        check_quantization(target, args.quantize_operators)

    # 2. Export to ONNX (fp32), then dynamic int8 quantization.
    fp32_dir = export_onnx(args.model_dir, os.path.join(args.output_dir, args.fp32_name), args.opset)
    int8_dir = None
    if not args.skip_quantization:
        int8_dir = quantize_dynamic(
            fp32_dir, os.path.join(args.output_dir, args.int8_name), target, args.per_channel, args.quantize_operators
        )
    if args.optimization_level:
        optimize_onnx(fp32_dir, args.optimization_level)
    logger.info("Exported %s (fp32) and %s (int8, %s)", fp32_dir, int8_dir, target)

    # 3. Verify on generated faces: parity with PyTorch, int8 agreement, sizes and latency.
    faces, _ = generate(args.num_faces, seed=1234)
    report = verify_export(args.model_dir, fp32_dir, int8_dir, list(faces), args.threads or torch.get_num_threads(), args.repeats)
    report.update({"model_dir": args.model_dir, "quantization_target": target if int8_dir else None, "per_channel": args.per_channel,
                   "quantize_operators": args.quantize_operators if int8_dir else None, "machine": machine_description()})  # fmt: skip

    # 4. With --data: accuracy of each export on a real split, through the evaluator.
    if args.data:
        from fer_hf.data import load_fer2013, require_split
        from fer_hf.evaluation import predict_dataset
        from fer_hf.inference import OnnxClassifier

        dataset = require_split(load_fer2013(args.data), args.split, args.data)
        if args.max_samples:
            dataset = dataset.select(range(min(args.max_samples, len(dataset))))
        report["accuracy_split"], report["accuracy"] = args.split, {}
        for name, folder in (("onnx_fp32", fp32_dir), ("onnx_int8", int8_dir)):
            if folder:
                probs, labels = predict_dataset(OnnxClassifier(folder), dataset, progress=False)
                report["accuracy"][name] = float((probs.argmax(1) == labels).mean())

    # 5. Report.
    with open(os.path.join(args.output_dir, "export_report.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(format_report(report))
    print(f"\nWrote {fp32_dir}" + (f" and {int8_dir}" if int8_dir else "") + f"; report: {args.output_dir}/export_report.json")
    return report


if __name__ == "__main__":
    run(main)
