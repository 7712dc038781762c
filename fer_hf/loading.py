"""Loading what fer-hf and its users saved: model folders (local or Hub), their configs, labels and processors.

One module that training, evaluation, export, serving and publishing all import, so every loader gives the same
one-line errors (`UserError` naming the path, the flag and the fix) and the same answer to "is this a model folder?".
torch and transformers are imported inside the functions that need them: the ONNX path stays light.
"""

import json
import os
from pathlib import Path
from typing import Optional

from .errors import UserError
from .labels import check_fer_labels, config_id2label


def is_hub_id(name: Optional[str]) -> bool:
    """Whether `name` means a Hub repo (`name` or `owner/name`): a valid repo id that is no local path.

    `owner/name` whose `owner` is a local folder (`models/missing`) counts as a mistyped path.
    """
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not name or os.path.exists(os.path.expanduser(name)) or ("/" in name and os.path.isdir(name.split("/")[0])):
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def read_config(model_dir: str) -> dict:
    """A model folder's `config.json` as a dict."""
    path = os.path.join(model_dir, "config.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as err:
        raise UserError(f"Cannot read {path}: {err}. Pass a folder written by train.py or export.py.") from None


def check_model_folder(model_dir: str, flag: str = "--model_dir", need: tuple = ("config.json",)) -> None:
    """The one "is this a model folder?" check: it exists, holds `need`, and its labels are FER2013's."""
    if not os.path.isdir(model_dir):
        raise UserError(f"Model directory '{model_dir}' does not exist. Pass {flag} a folder written by train.py or export.py.")
    missing = [name for name in need if not os.path.isfile(os.path.join(model_dir, name))]
    if missing:
        raise UserError(
            f"'{model_dir}' has no {', '.join(missing)}, so it is not a model written by train.py or export.py "
            "(look for the folder that holds config.json and model.safetensors or model.onnx)."
        )
    check_fer_labels(config_id2label(read_config(model_dir)), model_dir)


def find_onnx_file(model_dir: str) -> str:
    """The directory's `model.onnx`, else its one `.onnx` file."""
    names = sorted(name for name in os.listdir(model_dir) if name.endswith(".onnx"))
    if "model.onnx" in names:
        return "model.onnx"
    if len(names) != 1:
        raise UserError(f"{model_dir} holds {len(names)} .onnx files ({names}); keep one per directory.")
    return names[0]


def load_model(path: str):
    """A FER2013 checkpoint written by `train.py`, as a stock `AutoModelForImageClassification` (for inference)."""
    from transformers import AutoModelForImageClassification

    try:
        model = AutoModelForImageClassification.from_pretrained(path)
    except load_errors() as err:
        raise UserError(load_error_message(path, err, "model", "--model_dir")) from None
    check_fer_labels(model.config.id2label, path)
    return model


def load_image_processor(path: str):
    """The image processor saved beside a model or backbone; its size and statistics drive preprocessing."""
    from transformers import AutoImageProcessor

    try:
        return AutoImageProcessor.from_pretrained(path, use_fast=False)  # only its config is used here
    except load_errors() as err:
        raise UserError(load_error_message(path, err, "image processor", "the path")) from None


def load_errors() -> tuple:
    """What `from_pretrained` raises for files the user gave: missing or unreachable (OSError; huggingface_hub's
    offline and HTTP errors are OSErrors), a malformed repo id or config (ValueError, JSONDecodeError), torn or garbage
    weights (SafetensorError), weights that do not fit the config, e.g. other labels (RuntimeError: size mismatch)."""
    from safetensors import SafetensorError

    return (OSError, ValueError, RuntimeError, SafetensorError)


def load_error_message(name: str, err: Exception, what: str, flag: str) -> str:
    hint = f"Pass {flag} a local directory with config.json (and weights) or a Hub id (online, or already in the cache)."
    if not os.path.exists(name) and not is_hub_id(name):
        return f"Cannot load {what} '{name}': no such directory. {hint}"
    return f"Cannot load {what} '{name}': {first_line(err)}. {hint}"


def first_line(err: Exception) -> str:
    """The gist of an exception's message: its first sentence, or the first two lines when the first ends in ':'
    (PyTorch's "Error(s) in loading state_dict for Linear:" is followed by the "size mismatch ..." that matters)."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    text = f"{lines[0]} {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else lines[0].split(". ")[0]
    return text.rstrip(".")[:300]


def is_onnx_folder(model_dir: str) -> bool:
    return any(name.endswith(".onnx") for name in os.listdir(model_dir))


def weights_file(model_dir: str) -> Optional[Path]:
    """The checkpoint's weights (`model.safetensors`; a legacy `pytorch_model.bin` is named but never unpickled)."""
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (Path(model_dir) / name).is_file():
            return Path(model_dir) / name
    return None
