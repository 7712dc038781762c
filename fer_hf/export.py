"""ONNX export and dynamic int8 quantization with Optimum, and the checks that the result still agrees.

Three steps, as in Optimum's quantization example: export (`optimum.exporters.onnx.main_export`), optionally
optimise the graph (`ORTOptimizer`), then quantize weights to int8 with activations quantized at run time
(`ORTQuantizer` + `AutoQuantizationConfig.<cpu>(is_static=False)`). Each output folder holds `model.onnx`,
`config.json` (FER2013's `id2label`) and `preprocessor_config.json`, so `ORTModelForImageClassification`,
`pipeline("image-classification")` and plain ONNX Runtime all load it.
"""

import contextlib
import logging
import math
import os
import platform
import shutil
import statistics
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from .cli import cpu_info
from .errors import UserError
from .loading import check_model_folder, read_config, weights_file


logger = logging.getLogger(__name__)

QUANTIZATION_TARGETS = ("avx512_vnni", "avx512", "avx2", "arm64")
# Operators given int8 weights. Not Conv (in Optimum's default list): on the shipped MobileViT, ONNX Runtime's
# ConvInteger cost 3 points of PublicTest accuracy (57.4% vs 60.5%) and ran slower than its fp32 convolutions,
# while quantizing the MatMuls alone (transformer layers; all of ViT but its patch embedding) changed one
# prediction in 3,589 (python export.py ... --quantize_operators Conv MatMul reproduces the old behaviour).
DEFAULT_QUANTIZE_OPERATORS = ("MatMul",)


def detect_quantization_target() -> str:
    """The `AutoQuantizationConfig` preset for this CPU: arm64, avx512_vnni, avx512 or avx2."""
    if platform.machine().lower() in ("arm64", "aarch64"):
        return "arm64"
    capability = torch.backends.cpu.get_cpu_capability()  # "AVX512", "AVX2", "DEFAULT", ...
    if capability == "AVX512":
        # torch does not report VNNI separately; Linux lists it among the CPU flags.
        return "avx512_vnni" if "avx512_vnni" in cpu_info().get("flags", "").split() else "avx512"
    return "avx2"


def check_checkpoint(model_dir: str) -> None:
    """Fail early, naming the missing files, if `model_dir` is not a complete checkpoint from train.py."""
    check_model_folder(model_dir, need=("config.json", "preprocessor_config.json"))
    if weights_file(model_dir) is None:
        raise UserError(f"Checkpoint '{model_dir}' is missing model.safetensors; pass --model_dir the folder train.py wrote.")


def export_onnx(model_dir: str, output_dir: str, opset: Optional[int] = None) -> str:
    """Export a checkpoint to `output_dir/model.onnx` (dynamic batch axis); returns `output_dir`."""
    from optimum.exporters.onnx import main_export

    check_checkpoint(model_dir)
    custom = {}
    if read_config(model_dir).get("model_type") == "timm_wrapper":
        from transformers import AutoConfig

        custom = {"custom_onnx_configs": {"model": timm_wrapper_onnx_config(AutoConfig.from_pretrained(model_dir))}}
    try:
        with quiet_exporter():
            main_export(model_dir, output=output_dir, task="image-classification", opset=opset, do_validation=False,
                        library_name="transformers", **custom)
    except Exception as err:  # the exporter raises many types; all mean the same to the user
        raise UserError(f"ONNX export of '{model_dir}' failed: {type(err).__name__}: {err}") from None
    return output_dir


@contextlib.contextmanager
def quiet_exporter():
    """Silence what the exporter says that a user cannot act on: the tracer's warnings about Python-side checks of
    input shapes (constant for an exported model), and transformers' deprecation notes about the classes Optimum
    itself uses (`torch_dtype`, `ViTFeatureExtractor`, slow image processors)."""
    import warnings

    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            yield
    finally:
        hf_logging.set_verbosity(level)


def timm_wrapper_onnx_config(config):
    """The ONNX config of a timm model loaded through transformers' `TimmWrapper`, which Optimum does not list.

    It is ViT's (one `pixel_values` input, `logits` out) with only the batch axis dynamic: timm models such as
    TinyViT fix their attention windows to the trained input size. The dummy input's size comes from the config's
    `image_size` and `num_channels`, which fer-hf's timm configs carry.
    """
    from optimum.exporters.onnx.model_configs import ViTOnnxConfig

    class TimmWrapperOnnxConfig(ViTOnnxConfig):
        @property
        def inputs(self) -> dict:
            return {"pixel_values": {0: "batch_size"}}

    return TimmWrapperOnnxConfig(config, task="image-classification")


def optimize_onnx(onnx_dir: str, optimization_level: int) -> str:
    """Rewrite `onnx_dir/model.onnx` with ONNX Runtime's offline graph optimisations (Optimum's `ORTOptimizer`).

    Run it after quantizing: the quantizer cannot type ORT's fused operators, so int8 is made from the plain graph
    (ONNX Runtime applies its own optimisations to it when a session loads it).
    """
    from optimum.onnxruntime import ORTOptimizer
    from optimum.onnxruntime.configuration import OptimizationConfig

    check_optimization_level(optimization_level)
    optimized_dir = Path(onnx_dir) / "optimized"
    optimizer = ORTOptimizer.from_pretrained(onnx_dir, file_names=["model.onnx"])
    optimizer.optimize(save_dir=optimized_dir, optimization_config=OptimizationConfig(optimization_level=optimization_level))
    os.replace(optimized_dir / "model_optimized.onnx", Path(onnx_dir) / "model.onnx")
    os.replace(optimized_dir / "ort_config.json", Path(onnx_dir) / "ort_config.json")
    shutil.rmtree(optimized_dir)
    return onnx_dir


def check_optimization_level(level: int) -> None:
    """Refuse an `--optimization_level` ORTOptimizer does not know, before any export work."""
    if level not in (0, 1, 2, 99):
        raise UserError(f"--optimization_level must be 0 (off), 1, 2 or 99, got {level}.")


def check_quantization(target: str, operators: Sequence[str]) -> None:
    """Fail early, listing the valid values, on an unknown quantization target or operator."""
    from onnxruntime.quantization.registry import IntegerOpsRegistry

    if target not in QUANTIZATION_TARGETS:
        raise UserError(f"Unknown quantization target '{target}'; choose one of {', '.join(QUANTIZATION_TARGETS)}.")
    unknown = [op for op in operators if op not in IntegerOpsRegistry]
    if unknown or not operators:
        raise UserError(
            f"Cannot quantize operators {unknown or 'none'} dynamically; choose from {', '.join(sorted(IntegerOpsRegistry))}."
        )


def quantize_dynamic(
    onnx_dir: str,
    output_dir: str,
    target: Optional[str] = None,
    per_channel: bool = False,
    operators: Sequence[str] = DEFAULT_QUANTIZE_OPERATORS,
) -> str:
    """Dynamic int8 quantization of `onnx_dir/model.onnx` into `output_dir/model.onnx`; returns `output_dir`.

    Args:
        target: `AutoQuantizationConfig` preset (default: detected for this CPU).
        per_channel: One weight scale per output channel instead of per tensor.
        operators: ONNX operator types to quantize (see `DEFAULT_QUANTIZE_OPERATORS`); the others stay fp32.
    """
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    target = target or detect_quantization_target()
    check_quantization(target, operators)
    config = getattr(AutoQuantizationConfig, target)(
        is_static=False, per_channel=per_channel, operators_to_quantize=list(operators)
    )
    quantizer = ORTQuantizer.from_pretrained(onnx_dir, file_name="model.onnx")
    quantizer.quantize(save_dir=output_dir, quantization_config=config)
    # One file name everywhere, so every loader finds the model without being told its name.
    os.replace(Path(output_dir) / "model_quantized.onnx", Path(output_dir) / "model.onnx")
    return output_dir


def quantized_operators(onnx_path: str) -> dict:
    """Counts of the integer operators in a graph (MatMulInteger, DynamicQuantizeLinear, ...)."""
    import onnx

    graph = onnx.load(onnx_path, load_external_data=False).graph
    counts = {}
    for node in graph.node:
        if "Integer" in node.op_type or "QuantizeLinear" in node.op_type:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def median_latency_ms(fn, batch, warmup: int = 3, repeats: int = 20) -> float:
    """Median wall time per image (ms) of `fn(batch)` after warm-up."""
    for _ in range(warmup):
        fn(batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(batch)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times) / len(batch)


def file_size_mb(path: str) -> float:
    return os.path.getsize(path) / 1e6


def verify_export(model_dir: str, fp32_dir: str, int8_dir: Optional[str], faces, threads: int, repeats: int = 20) -> dict:
    """Parity, size and latency of the exports against the PyTorch checkpoint, on the same faces.

    Args:
        model_dir: The PyTorch checkpoint.
        fp32_dir: Its fp32 ONNX export.
        int8_dir: Its int8 export, or None when quantization was skipped.
        faces: Grayscale faces (arrays) used for parity and timing.
        threads: Threads for PyTorch and ONNX Runtime alike.
        repeats: Timed runs per measurement (the median is reported).
    """
    from .inference import OnnxClassifier, TorchClassifier, softmax

    torch.set_num_threads(threads)
    models = {"pytorch_fp32": TorchClassifier.from_pretrained(model_dir, device="cpu"), "onnx_fp32": OnnxClassifier(fp32_dir, num_threads=threads)}
    if int8_dir:
        models["onnx_int8"] = OnnxClassifier(int8_dir, num_threads=threads)
    pixel_values = models["pytorch_fp32"].preprocess(faces)
    logits = {name: model.logits(pixel_values) for name, model in models.items()}
    report = {
        "num_faces": len(faces),
        "threads": threads,
        "fp32_max_abs_logit_diff": float(np.abs(logits["onnx_fp32"] - logits["pytorch_fp32"]).max()),
        "sizes_mb": {"pytorch_fp32": file_size_mb(weights_file(model_dir)), "onnx_fp32": file_size_mb(models["onnx_fp32"].onnx_path)},
        "latency_ms_per_image": {},
    }
    if int8_dir:
        p32, p8 = softmax(logits["onnx_fp32"]), softmax(logits["onnx_int8"])
        report["int8_top1_agreement"] = float(np.mean(p32.argmax(1) == p8.argmax(1)))
        report["int8_max_prob_diff"] = float(np.abs(p32 - p8).max())
        report["sizes_mb"]["onnx_int8"] = file_size_mb(models["onnx_int8"].onnx_path)
        report["int8_quantized_operators"] = quantized_operators(models["onnx_int8"].onnx_path)
    # Batches of 1 and 8 faces, cycling through the given faces when there are fewer than 8.
    batches = {n: np.tile(pixel_values, (math.ceil(n / len(pixel_values)), 1, 1, 1))[:n] for n in (1, 8)}
    for name, model in models.items():
        report["latency_ms_per_image"][name] = {
            f"batch_{n}": median_latency_ms(model.logits, batch, repeats=repeats) for n, batch in batches.items()
        }
    return report


def format_report(report: dict) -> str:
    """The verification report as a plain-text table."""
    lines = [
        f"fp32 ONNX vs PyTorch: max |logit diff| = {report['fp32_max_abs_logit_diff']:.2e} on {report['num_faces']} faces",
    ]
    if "int8_top1_agreement" in report:
        lines.append(
            f"int8 vs fp32 ONNX: top-1 agreement {100 * report['int8_top1_agreement']:.1f}%, "
            f"max probability diff {report['int8_max_prob_diff']:.4f}"
        )
    lines += ["", f"{'model':<14} {'size MB':>9} {'batch 1 ms/img':>15} {'batch 8 ms/img':>15}   ({report['threads']} threads)"]
    for name, latency in report["latency_ms_per_image"].items():
        lines.append(f"{name:<14} {report['sizes_mb'][name]:>9.2f} {latency['batch_1']:>15.2f} {latency['batch_8']:>15.2f}")
    if "accuracy" in report:
        lines.append("")
        for name, value in report["accuracy"].items():
            lines.append(f"accuracy on {report['accuracy_split']}: {name} {100 * value:.2f}%")
    return "\n".join(lines)
