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

from .cli import record_wall_seconds
from .errors import UserError
from .labels import EMOTIONS, FER2013_SPLIT_SIZES, SPLIT_TO_USAGE, is_full_fer2013_split
from .loading import check_model_folder, is_hub_id
from .outputs import EXPORT_MARKER, atomic_dir, check_export_marker, check_output_dir


# Checkpoint files that belong on the Hub; optimizer states, RNG states and pickled arguments do not.
CHECKPOINT_FILES = ("config.json", "model.safetensors", "preprocessor_config.json", "fer_hf_args.json",
                    "train_results.json", "eval_results.json", "all_results.json")  # fmt: skip
EVAL_FILES = ("metrics.json", "classification_report.txt", "confusion_matrix.png", "roc_curves.png", "reliability_diagram.png")
CARD_TEMPLATE = Path(__file__).parent / "templates" / "modelcard.md"
HYPERPARAMETERS = ("learning_rate", "head_learning_rate", "num_train_epochs", "per_device_train_batch_size", "weight_decay",
                   "warmup_epochs", "plateau_epochs", "mixup_alpha", "mixup_prob", "label_smoothing_factor",
                   "balanced_sampling", "balance_power", "early_stopping_patience", "metric_for_best_model", "seed")  # fmt: skip
AUGMENTATIONS = ("crop_scale_min", "hflip_prob", "rotation_degrees", "erasing_prob")  # train.py's data arguments
DISTILLATION = ("distill_from", "distill_alpha", "distill_tta", "distill_precompute", "self_distill_epochs")


def _read_json(path) -> Optional[dict]:
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else None


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
    # FER2013 is claimed only for the full official splits: a synthetic or partial set gets no model-index.
    evaluated_on_fer = bool(metrics) and is_full_fer2013_split(metrics.get("split", "validation"), metrics.get("num_examples"))
    trained_on_fer = is_full_fer2013_split("train", args.get("dataset", {}).get("train_rows"))
    eval_results = None
    if evaluated_on_fer:
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
        tags=["image-classification", "vision", "facial-expression-recognition", "emotion-recognition", model_type]
        + (["fer2013"] if trained_on_fer or evaluated_on_fer else []) + (["onnx"] if onnx_subfolders else []),
        datasets=["fer2013"] if trained_on_fer or evaluated_on_fer else None,
        base_model=backbone if is_hub_id(backbone) and not from_scratch else None,
        model_name=repo.split("/")[-1],
        eval_results=eval_results,
        metrics=["accuracy", "f1"] if evaluated_on_fer else None,
    )
    training = args.get("training", {})
    return ModelCard.from_template(
        data,
        template_path=str(CARD_TEMPLATE),
        name=repo.split("/")[-1],
        repo=repo,
        architecture=(config.get("architectures") or [model_type])[0],
        backbone=backbone,
        from_scratch=from_scratch,
        args=args,
        trained_on_fer=trained_on_fer,
        evaluated_on_fer=evaluated_on_fer,
        train_rows=args.get("dataset", {}).get("train_rows"),
        data_name=os.path.basename(str(args.get("data", {}).get("data", "?"))),
        eval_data_name=os.path.basename(str((metrics or {}).get("data", "?"))),
        fer_sizes=FER2013_SPLIT_SIZES,
        emotions=EMOTIONS,
        metrics=metrics,
        usage=SPLIT_TO_USAGE.get((metrics or {}).get("split"), ""),
        tta=f", TTA {metrics['tta']}" if metrics and metrics.get("tta", "none") != "none" else "",
        training=training,
        hyperparameters=_hyperparameters(args, config),
        classifier_dropout=args.get("model", {}).get("classifier_dropout"),
        freeze_layers=args.get("model", {}).get("freeze_layers"),
        record=args.get("run"),
        teacher_record=args.get("teacher_run"),
        teacher_minutes=_minutes(args.get("teacher_run")),
        with_teacher_minutes=_with_teacher_minutes(args),
        onnx_subfolders=list(onnx_subfolders),
    )


def _minutes(record: Optional[dict]) -> Optional[float]:
    """Minutes of wall of a run record over all its sessions, when known."""
    seconds = record_wall_seconds(record or {})
    return None if seconds is None else seconds / 60


def _with_teacher_minutes(args: dict) -> Optional[float]:
    """Minutes of wall for the teacher's run and this one together, when both are known: what the model cost."""
    minutes = [_minutes(args.get(key)) for key in ("run", "teacher_run")]
    return None if None in minutes else sum(minutes)


def _hyperparameters(args: dict, config: dict) -> list:
    """The card's table: training arguments, the augmentations, the teacher of a distilled model, and the backbone's
    stochastic depth when it has one."""
    training, data = args.get("training", {}), args.get("data", {})
    rows = [(key, training[key]) for key in HYPERPARAMETERS if key in training]
    if training.get("cutmix_alpha"):  # CutMix is off unless asked for
        rows += [(key, training[key]) for key in ("cutmix_alpha", "cutmix_switch_prob") if key in training]
    rows += [(key, data[key]) for key in AUGMENTATIONS if key in data]
    if training.get("distill_from") or training.get("self_distill_epochs"):  # a student: its teacher and how much of the targets it gave
        rows += [(key, training[key]) for key in DISTILLATION if training.get(key) is not None
                 and not (key == "distill_precompute" and not training.get("distill_from"))]  # its own teacher: nothing to precompute
    drop_path = (config.get("model_args") or {}).get("drop_path_rate", config.get("drop_path_rate"))  # timm / transformers
    return rows + ([("drop_path_rate", drop_path)] if drop_path is not None else [])


def check_upload_inputs(model_dir: str, export_dir: Optional[str] = None, eval_dir: Optional[str] = None) -> list:
    """Fail early on incomplete inputs; returns the ONNX sub-folders of `export_dir` that will be uploaded.

    Every ONNX folder must be complete: written whole by export.py (its marker matches `model.onnx`) and parseable.
    """
    check_model_folder(model_dir, need=("config.json", "preprocessor_config.json"))
    if eval_dir and not (Path(eval_dir) / "metrics.json").is_file():
        raise UserError(f"{eval_dir} has no metrics.json; run evaluate_model.py --output_dir {eval_dir} first, or leave out --eval_dir.")
    if not export_dir:
        return []
    if not Path(export_dir).is_dir():
        raise UserError(f"--export_dir {export_dir} does not exist; pass the folder export.py wrote, or leave it out.")
    subfolders = sorted(p for p in Path(export_dir).iterdir() if p.is_dir() and any(p.glob("*.onnx")))
    for sub in subfolders:
        if not (sub / EXPORT_MARKER).is_file():
            raise UserError(f"{sub} has no {EXPORT_MARKER}: its export did not finish. Run export.py again.")
        check_export_marker(sub)
        _check_onnx(sub / "model.onnx")
    return subfolders


def _check_onnx(path: Path) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(path))
    except Exception as err:  # onnx raises ValidationError or protobuf's DecodeError; both mean the same here
        raise UserError(f"{path} is not a valid ONNX model ({type(err).__name__}); run export.py again.") from None


def assemble_upload_folder(model_dir: str, output_dir: str, export_dir: Optional[str] = None, eval_dir: Optional[str] = None,
                           repo_id: Optional[str] = None, overwrite: bool = False) -> Path:  # fmt: skip
    """Lay out exactly what will be uploaded: checkpoint files, `onnx*/` sub-folders, `eval/` and README.md.

    The folder is built beside `output_dir` and renamed into place at the end. An `output_dir` that holds files is
    replaced only with `overwrite`, and never when it is (or holds) one of the inputs.
    """
    check_output_dir(output_dir, overwrite, inputs=(model_dir, export_dir, eval_dir))
    subfolders = check_upload_inputs(model_dir, export_dir, eval_dir)
    with atomic_dir(output_dir) as out:
        _fill_upload_folder(out, model_dir, export_dir, eval_dir, repo_id, subfolders)
    return Path(output_dir)


def _fill_upload_folder(out: Path, model_dir, export_dir, eval_dir, repo_id, subfolders) -> None:
    for name in CHECKPOINT_FILES:
        if (Path(model_dir) / name).is_file():
            shutil.copy2(Path(model_dir) / name, out / name)
    for sub in subfolders:
        shutil.copytree(sub, out / sub.name)
    if export_dir:
        if (Path(export_dir) / "export_report.json").is_file():
            shutil.copy2(Path(export_dir) / "export_report.json", out / "export_report.json")
    if eval_dir:
        (out / "eval").mkdir()
        for name in EVAL_FILES:
            if (Path(eval_dir) / name).is_file():
                shutil.copy2(Path(eval_dir) / name, out / "eval" / name)
    create_model_card(model_dir, eval_dir, repo_id, tuple(sub.name for sub in subfolders)).save(out / "README.md")


def check_repo_id(repo_id: str) -> None:
    """Refuse an invalid Hub repository id before any work."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise UserError(f"--repo_id {repo_id!r} is not a valid Hub repository id ({str(err).splitlines()[0]}); use owner/name.") from None


def push_folder(folder: str, repo_id: str, private: bool = False, commit_message: str = "Upload FER2013 model",
                token: Optional[str] = None) -> str:  # fmt: skip
    """Create the repository if needed and upload `folder` in one commit; returns the commit URL.

    The token (`token`, else `HF_TOKEN` or the login file, as `huggingface_hub` finds it) is handed to
    `huggingface_hub` only; it is never printed or written.
    """
    from huggingface_hub.errors import HfHubHTTPError

    if (token or get_token()) is None:
        raise UserError("No Hugging Face token found: run `huggingface-cli login` or set HF_TOKEN, then push again.")
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message=commit_message)
    except (HfHubHTTPError, OSError) as err:  # OSError covers connection errors and offline mode
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"Cannot push to {repo_id}: {first[:200]}. Check the network and your token's write access; "
                        f"the upload folder {folder} is complete and can be pushed again.") from None  # fmt: skip
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
    parser.add_argument("--overwrite", action="store_true", help="Replace an --output_dir that already holds files.")
    args = parser.parse_args(args)
    check_repo_id(args.repo_id)
    folder = assemble_upload_folder(args.model_dir, args.output_dir or os.path.join(args.model_dir, "hub-upload"),
                                    args.export_dir, args.eval_dir, args.repo_id, args.overwrite)  # fmt: skip
    print(f"Upload folder {folder}:\n{list_folder(folder)}")
    if args.dry_run:
        print(f"Dry run: nothing uploaded. Without --dry_run this folder goes to https://huggingface.co/{args.repo_id} in one commit.")
        return folder
    print(f"Pushed: {push_folder(str(folder), args.repo_id, args.private)}")
    return folder


if __name__ == "__main__":
    from .cli import run

    run(main)
