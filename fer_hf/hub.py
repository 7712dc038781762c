"""Hugging Face Hub integration: a model card built from real results, an upload folder, and the push.

    python -m fer_hf.hub --model_dir outputs/demo/model --export_dir outputs/demo/export \\
        --eval_dir outputs/demo/eval --repo_id you/fer2013-vit --dry_run

The card's numbers are read from the `metrics.json` that `evaluate_model.py` wrote (the `model-index` is omitted
when there is none), its hyperparameters from the `fer_hf_args.json` that `train.py` wrote. The token comes from
`HF_TOKEN` or `huggingface-cli login` through `huggingface_hub` and is never printed or written by this code.
"""

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Optional

from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData, get_token
from huggingface_hub.utils import HFValidationError, validate_repo_id

from .labels import EMOTIONS, SPLIT_TO_USAGE


# Checkpoint files that belong on the Hub; optimizer states, RNG states and pickled arguments do not.
CHECKPOINT_FILES = ("config.json", "model.safetensors", "preprocessor_config.json", "fer_hf_args.json",
                    "train_results.json", "eval_results.json", "all_results.json")  # fmt: skip
EVAL_FILES = ("metrics.json", "classification_report.txt", "confusion_matrix.png", "roc_curves.png", "reliability_diagram.png")
HYPERPARAMETERS = ("learning_rate", "head_learning_rate", "num_train_epochs", "per_device_train_batch_size", "weight_decay",
                   "warmup_epochs", "plateau_epochs", "mixup_alpha", "mixup_prob", "label_smoothing_factor",
                   "balanced_sampling", "balance_power", "early_stopping_patience", "seed")  # fmt: skip


def _read_json(path) -> Optional[dict]:
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else None


def is_hub_id(name: Optional[str]) -> bool:
    """Whether `name` means a Hub repo (`name` or `owner/name`): a valid repo id that is no local path.

    `owner/name` whose `owner` is a local folder (`models/missing`) counts as a mistyped path.
    """
    if not name or os.path.exists(os.path.expanduser(name)) or ("/" in name and os.path.isdir(name.split("/")[0])):
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def create_model_card(model_dir: str, eval_dir: Optional[str] = None, repo_id: Optional[str] = None,
                      onnx_subfolders: tuple = ()) -> ModelCard:  # fmt: skip
    """A model card for a checkpoint: metadata, labels, per-class results, figures, recipe, usage and limits.

    Args:
        model_dir: The checkpoint folder from train.py.
        eval_dir: Folder of evaluate_model.py's report (`metrics.json`); without it the card has no results.
        repo_id: The Hub repository the card will live in (used in the usage snippets).
        onnx_subfolders: ONNX sub-folders shipped beside the checkpoint, e.g. `("onnx-fp32", "onnx-int8")`.
    """
    args = _read_json(Path(model_dir) / "fer_hf_args.json") or {}
    metrics = _read_json(Path(eval_dir) / "metrics.json") if eval_dir else None
    backbone = args.get("model", {}).get("model_name_or_path")
    from_scratch = args.get("model", {}).get("train_from_scratch", False)
    repo = repo_id or "<your-name>/<this-model>"
    config = _read_json(Path(model_dir) / "config.json") or {}
    model_type = config.get("model_type", "vit")
    eval_results = None
    if metrics:
        split = metrics.get("split", "validation")
        common = dict(task_type="image-classification", task_name="Facial expression recognition", dataset_type="fer2013",
                      dataset_name="FER2013", dataset_split=split)  # fmt: skip
        eval_results = [
            EvalResult(**common, metric_type="accuracy", metric_name="Accuracy", metric_value=round(metrics["accuracy"], 4)),
            EvalResult(**common, metric_type="f1", metric_name="Macro F1", metric_value=round(metrics["macro_f1"], 4),
                       metric_config="macro"),  # fmt: skip
        ]
    data = ModelCardData(
        license="mit",
        library_name="transformers",
        pipeline_tag="image-classification",
        tags=["image-classification", "vision", "facial-expression-recognition", "emotion-recognition", "fer2013", model_type]
        + (["onnx"] if onnx_subfolders else []),
        datasets=["fer2013"],
        base_model=backbone if is_hub_id(backbone) and not from_scratch else None,
        model_name=repo.split("/")[-1],
        eval_results=eval_results,
        metrics=["accuracy", "f1"] if metrics else None,
    )
    architecture = (config.get("architectures") or [model_type])[0]
    body = _card_body(repo, args, metrics, backbone, from_scratch, onnx_subfolders, architecture)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def _card_body(repo, args, metrics, backbone, from_scratch, onnx_subfolders, architecture) -> str:
    name = repo.split("/")[-1]
    lines = [f"# {name}", ""]
    origin = f"trained from scratch as a `{architecture}` (config `{backbone}`)" if from_scratch else f"fine-tuned from `{backbone}`"
    lines += [f"A facial-expression classifier for 48x48 grayscale faces in FER2013's seven classes, {origin} with "
              "the fer-hf project (class-balanced sampling, MixUp, warmup → plateau → cosine schedule).", ""]  # fmt: skip
    lines += ["## Labels", "", "Index order is FER2013's own and is stored in `config.json` (`id2label`):", "",
              "| id | label |", "|---|---|"] + [f"| {i} | {n} |" for i, n in enumerate(EMOTIONS)] + [""]  # fmt: skip
    lines += ["## Results", ""]
    if metrics:
        lines += [
            f"Measured by `evaluate_model.py` on FER2013 `{metrics.get('split')}` "
            f"({SPLIT_TO_USAGE[metrics['split']] + ', ' if metrics.get('split') in SPLIT_TO_USAGE else ''}"
            f"{metrics['num_examples']} faces"
            + (f", TTA {metrics['tta']}" if metrics.get("tta", "none") != "none" else "") + "):",
            "",
            "| accuracy | macro-F1 | weighted-F1 | macro ROC AUC | ECE (15 bins) |",
            "|---|---|---|---|---|",
            f"| {metrics['accuracy']:.4f} | {metrics['macro_f1']:.4f} | {metrics['weighted_f1']:.4f} | "
            + (f"{metrics['macro_roc_auc']:.4f}" if metrics.get("macro_roc_auc") is not None else "n/a")
            + f" | {metrics['ece']:.4f} |",
            "",
            "| class | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
        ]
        lines += [f"| {c} | {v['precision']:.4f} | {v['recall']:.4f} | {v['f1']:.4f} | {v['support']} |"
                  for c, v in metrics["per_class"].items()]  # fmt: skip
        lines += ["", "![Confusion matrix](eval/confusion_matrix.png)", ""]
    else:
        lines += ["No evaluation was run for this upload, so no results are claimed.", ""]
    training = args.get("training", {})
    if training:
        lines += ["## Training", "", f"Data: `{os.path.basename(str(args.get('data', {}).get('data', '?')))}`; "
                  f"head dropout {args.get('model', {}).get('classifier_dropout')}, frozen encoder layers "
                  f"{args.get('model', {}).get('freeze_layers')}.", "", "| hyperparameter | value |", "|---|---|"]  # fmt: skip
        lines += [f"| {key} | {training[key]} |" for key in HYPERPARAMETERS if key in training] + [""]
    record = args.get("run")
    if record:
        lines += ["### Training run", "", "```bash", record["command"], "```", "",
                  f"Seed {record['seed']}; {record['started_utc']} → {record['finished_utc']} "
                  f"({record['wall_seconds'] / 60:.1f} min wall); machine: {record['machine']}.", ""]  # fmt: skip
    lines += [
        "## How to use",
        "",
        "```python",
        "from transformers import pipeline",
        f'classify = pipeline("image-classification", model="{repo}")',
        'classify("face.jpg")  # a cropped face; see realtime.py for detection',
        "```",
        "",
        "```python",
        "from transformers import AutoImageProcessor, AutoModelForImageClassification",
        f'model = AutoModelForImageClassification.from_pretrained("{repo}")',
        f'processor = AutoImageProcessor.from_pretrained("{repo}")',
        "```",
        "",
    ]
    for subfolder in onnx_subfolders:
        lines += ["```python", "from optimum.onnxruntime import ORTModelForImageClassification",
                  f'model = ORTModelForImageClassification.from_pretrained("{repo}", subfolder="{subfolder}")', "```", ""]  # fmt: skip
    lines += [
        "Realtime on a webcam, every face labelled (from the fer-hf repository, with the model downloaded to a folder):",
        "",
        "```bash",
        f"huggingface-cli download {repo} --local-dir fer-model",
        "python realtime.py --model fer-model" + (f"/{onnx_subfolders[-1]}" if onnx_subfolders else ""),
        "```",
        "",
        "## Intended use",
        "",
        "Research, teaching and demos of facial-expression recognition: aggregate, consented, low-stakes analysis.",
        "",
        "## Limitations and risks",
        "",
        "- FER2013 is 48x48 grayscale, collected by web image search: a mix of posed and spontaneous faces, mostly frontal,"
        " with label noise (human agreement is about 65%). Webcam faces (lighting, pose, resolution, colour) differ.",
        "- Classes are imbalanced (Disgust is 1.5% of training data); read the per-class recall, not only accuracy.",
        "- FER2013 is known to under-represent some ages and skin tones; accuracy can differ across demographic groups.",
        "- A facial expression is not an emotion: the model reads appearance, not inner state.",
        "- Not for decisions about people (hiring, policing, education, health, credit) or surveillance.",
        "",
    ]
    return "\n".join(lines)


def assemble_upload_folder(model_dir: str, output_dir: str, export_dir: Optional[str] = None, eval_dir: Optional[str] = None,
                           repo_id: Optional[str] = None) -> Path:  # fmt: skip
    """Lay out exactly what will be uploaded: checkpoint files, `onnx*/` sub-folders, `eval/` and README.md."""
    for name in ("config.json", "preprocessor_config.json"):
        if not (Path(model_dir) / name).is_file():
            raise FileNotFoundError(f"{model_dir} has no {name}; pass --model_dir the folder train.py wrote.")
    if eval_dir and not (Path(eval_dir) / "metrics.json").is_file():
        raise FileNotFoundError(f"{eval_dir} has no metrics.json; run evaluate_model.py --output_dir {eval_dir} first, or leave out --eval_dir.")
    out = Path(output_dir)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in CHECKPOINT_FILES:
        if (Path(model_dir) / name).is_file():
            shutil.copy2(Path(model_dir) / name, out / name)
    subfolders = []
    if export_dir:
        for sub in sorted(p for p in Path(export_dir).iterdir() if p.is_dir() and (p / "model.onnx").is_file()):
            shutil.copytree(sub, out / sub.name)
            subfolders.append(sub.name)
        if (Path(export_dir) / "export_report.json").is_file():
            shutil.copy2(Path(export_dir) / "export_report.json", out / "export_report.json")
    if eval_dir:
        (out / "eval").mkdir()
        for name in EVAL_FILES:
            if (Path(eval_dir) / name).is_file():
                shutil.copy2(Path(eval_dir) / name, out / "eval" / name)
    create_model_card(model_dir, eval_dir, repo_id, tuple(subfolders)).save(out / "README.md")
    return out


def push_folder(folder: str, repo_id: str, private: bool = False, commit_message: str = "Upload FER2013 model") -> str:
    """Create the repository if needed and upload `folder` in one commit; returns the commit URL."""
    if get_token() is None:
        raise ValueError("No Hugging Face token found: run `huggingface-cli login` or set HF_TOKEN, then push again.")
    api = HfApi()
    api.create_repo(repo_id, private=private, exist_ok=True)
    info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message=commit_message)
    return str(getattr(info, "commit_url", info))


def list_folder(folder: Path) -> str:
    lines = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        lines.append(f"{path.stat().st_size / 1e6:>9.2f} MB  {path.relative_to(folder)}")
    return "\n".join(lines)


def main(args=None):
    parser = argparse.ArgumentParser(description="Build a model card and upload folder, and push it to the Hub.")
    parser.add_argument("--model_dir", required=True, help="Checkpoint folder from train.py.")
    parser.add_argument("--repo_id", required=True, help="Hub repository, e.g. your-name/fer2013-vit.")
    parser.add_argument("--export_dir", default=None, help="Folder from export.py (its onnx*/ sub-folders are uploaded).")
    parser.add_argument("--eval_dir", default=None, help="Folder from evaluate_model.py (metrics.json and figures).")
    parser.add_argument("--output_dir", default=None, help="Where to assemble the upload (default: <model_dir>/hub-upload).")
    parser.add_argument("--private", action="store_true", help="Create the repository as private.")
    parser.add_argument("--dry_run", action="store_true", help="Assemble and list the folder, upload nothing.")
    args = parser.parse_args(args)
    folder = assemble_upload_folder(args.model_dir, args.output_dir or os.path.join(args.model_dir, "hub-upload"),
                                    args.export_dir, args.eval_dir, args.repo_id)  # fmt: skip
    print(f"Upload folder {folder}:\n{list_folder(folder)}")
    if args.dry_run:
        print(f"Dry run: nothing uploaded. Without --dry_run this folder goes to https://huggingface.co/{args.repo_id} in one commit.")
        return folder
    print(f"Pushed: {push_folder(str(folder), args.repo_id, args.private)}")
    return folder


if __name__ == "__main__":
    from .cli import run

    run(main)
