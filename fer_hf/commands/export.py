"""Export a FER2013 checkpoint to ONNX with Optimum, quantize it to dynamic int8, and verify both.

    python export.py --model_dir outputs/vit-fer2013 --output_dir exports/vit-fer2013
    python export.py --model_dir outputs/vit-fer2013 --output_dir exports/vit-fer2013 --data fer2013.csv --split validation

Writes <output_dir>/onnx-fp32 and <output_dir>/onnx-int8, each loadable with from_pretrained and marked complete
(fer_hf_export.json), and <output_dir>/export_report.json with parity, sizes and latency (printed as a table). The
folder appears whole: it is built beside <output_dir> and renamed at the end; an existing one needs --overwrite.
"""

import logging
import os
from dataclasses import dataclass, field
from typing import List, Optional

import torch

from ..cli import UserError, machine_description, parse_args, run, setup_logging
from ..export import (
    DEFAULT_QUANTIZE_OPERATORS,
    QUANTIZATION_TARGETS,
    check_checkpoint,
    check_optimization_level,
    check_quantization,
    detect_quantization_target,
    export_onnx,
    format_report,
    optimize_onnx,
    quantize_dynamic,
    verify_export,
)
from ..outputs import atomic_dir, check_output_dir, write_export_marker, write_json


logger = logging.getLogger("export")


@dataclass
class ExportArguments:
    """What to export, how to quantize it, and how to check the result."""

    model_dir: Optional[str] = field(default=None, metadata={"help": "Checkpoint folder written by train.py."})
    output_dir: Optional[str] = field(default=None, metadata={"help": "Where the onnx-fp32/ and onnx-int8/ folders go."})
    overwrite: bool = field(default=False, metadata={"help": "Replace an --output_dir that already holds files."})
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
    skip_malformed_rows: bool = field(default=False, metadata={"help": "Skip malformed CSV rows or images."})
    data_cache_dir: Optional[str] = field(default=None, metadata={"help": "Cache for parsed data."})
    num_faces: int = field(default=64, metadata={"help": "Generated faces for the parity and latency checks."})
    threads: int = field(default=0, metadata={"help": "Threads for the latency check (0: all cores torch sees)."})
    repeats: int = field(default=20, metadata={"help": "Timed runs per latency measurement (median reported)."})


def main(args=None):
    # 1. Arguments, checked before any work: the output folder, the checkpoint, the quantization settings.
    (args,) = parse_args((ExportArguments,), args)
    if not args.model_dir or not args.output_dir:
        raise UserError("Pass --model_dir (a checkpoint from train.py) and --output_dir.")
    check_output_dir(args.output_dir, args.overwrite, inputs=[args.model_dir])
    check_checkpoint(args.model_dir)
    check_optimization_level(args.optimization_level)
    setup_logging()
    target = detect_quantization_target() if args.quantization_target == "auto" else args.quantization_target
    if not args.skip_quantization:
        check_quantization(target, args.quantize_operators)
    with atomic_dir(args.output_dir) as staging:
        report = export_all(args, str(staging), target)
    print(format_report(report))
    fp32_dir, int8_dir = os.path.join(args.output_dir, args.fp32_name), os.path.join(args.output_dir, args.int8_name)
    print(f"\nWrote {fp32_dir}" + (f" and {int8_dir}" if not args.skip_quantization else "") + f"; report: {args.output_dir}/export_report.json")
    return report


def export_all(args: ExportArguments, output_dir: str, target: str) -> dict:
    """Export, quantize, mark complete, verify and report into `output_dir` (the staging folder)."""
    from tqdm.auto import tqdm

    stages = ["export ONNX fp32", "quantize int8", "optimize fp32", "verify parity and latency", f"accuracy on {args.split}"]
    wanted = [True, not args.skip_quantization, bool(args.optimization_level), True, bool(args.data)]
    bar = tqdm(total=sum(wanted), desc="Export", unit="step", bar_format="{desc}: {n}/{total} steps |{bar}| {elapsed}{postfix}")
    steps = iter([stage for stage, on in zip(stages, wanted) if on])

    def step():
        bar.set_postfix_str(next(steps))

    # 2. Export to ONNX (fp32), then dynamic int8 quantization; each folder is marked complete when it is.
    step()
    fp32_dir = export_onnx(args.model_dir, os.path.join(output_dir, args.fp32_name), args.opset)
    bar.update()
    int8_dir = None
    if not args.skip_quantization:
        step()
        int8_dir = quantize_dynamic(
            fp32_dir, os.path.join(output_dir, args.int8_name), target, args.per_channel, args.quantize_operators
        )
        bar.update()
    if args.optimization_level:
        step()
        optimize_onnx(fp32_dir, args.optimization_level)
        bar.update()
    for folder in (fp32_dir, int8_dir):
        if folder:
            write_export_marker(folder)
    logger.info("Exported %s (fp32) and %s (int8, %s)", args.fp32_name, args.int8_name if int8_dir else None, target)

    # 3. Verify on generated faces: parity with PyTorch, int8 agreement, sizes and latency.
    from ..demo.synthetic import generate  # here, not at the top: it reads through fer_hf.data, which imports datasets

    step()
    faces, _ = generate(args.num_faces, seed=1234)
    report = verify_export(args.model_dir, fp32_dir, int8_dir, list(faces), args.threads or torch.get_num_threads(), args.repeats)
    report.update({"model_dir": args.model_dir, "quantization_target": target if int8_dir else None, "per_channel": args.per_channel,
                   "quantize_operators": args.quantize_operators if int8_dir else None, "machine": machine_description()})  # fmt: skip
    bar.update()

    # 4. With --data: accuracy of each export on a real split, through the evaluator.
    if args.data:
        from ..data import load_split
        from ..evaluation import predict_dataset
        from ..inference import OnnxClassifier

        step()
        dataset = load_split(args.data, args.split, args.skip_malformed_rows, args.data_cache_dir, args.max_samples)
        report["accuracy_split"], report["accuracy"] = args.split, {}
        for name, folder in (("onnx_fp32", fp32_dir), ("onnx_int8", int8_dir)):
            if folder:
                probs, labels = predict_dataset(OnnxClassifier(folder), dataset, progress=False)
                report["accuracy"][name] = float((probs.argmax(1) == labels).mean())
        bar.update()
    bar.close()

    # 5. Report.
    write_json(os.path.join(output_dir, "export_report.json"), report)
    return report


if __name__ == "__main__":
    run(main)
