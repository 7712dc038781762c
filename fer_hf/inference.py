"""One interface over the model formats this project writes: a PyTorch checkpoint or an ONNX export.

`load_classifier(model_dir)` returns an `EmotionClassifier` whose `predict_proba(faces)` takes grayscale faces
and returns `(B, 7)` probabilities. Preprocessing always comes from the directory's saved image-processor
config, and labels are checked against FER2013's, so evaluation, export checks and realtime inference all
see a model the same way.
"""

import json
import os
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch

from .labels import check_fer_labels
from .transforms import ImageLike, preprocess_faces


class EmotionClassifier:
    """Base class: preprocessing from the saved image processor, then a backend's `logits`."""

    kind = "base"

    def __init__(self, model_dir: str, image_processor, id2label: dict):
        self.model_dir = str(model_dir)
        self.image_processor = image_processor
        self.id2label = {int(k): v for k, v in id2label.items()}

    @property
    def labels(self) -> list:
        return [self.id2label[i] for i in range(len(self.id2label))]

    def preprocess(self, faces: Sequence[ImageLike]) -> torch.Tensor:
        return preprocess_faces(faces, self.image_processor)

    def logits(self, pixel_values: torch.Tensor) -> np.ndarray:
        raise NotImplementedError

    def predict_proba(self, faces: Sequence[ImageLike]) -> np.ndarray:
        """`(B, num_labels)` softmax probabilities for a batch of faces, in one inference call."""
        if len(faces) == 0:
            return np.zeros((0, len(self.id2label)), dtype=np.float32)
        return softmax(self.logits(self.preprocess(faces)))


class TorchClassifier(EmotionClassifier):
    """A `from_pretrained` checkpoint run with PyTorch."""

    kind = "pytorch"

    def __init__(self, model_dir: str, device: Optional[str] = None):
        from .modeling import load_image_processor, load_model

        model = load_model(model_dir).eval()
        super().__init__(model_dir, load_image_processor(model_dir), model.config.id2label)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device)

    @torch.inference_mode()
    def logits(self, pixel_values: torch.Tensor) -> np.ndarray:
        return self.model(pixel_values=pixel_values.to(self.device)).logits.float().cpu().numpy()


class OnnxClassifier(EmotionClassifier):
    """An ONNX export (fp32 or int8) run with ONNX Runtime."""

    kind = "onnx"

    def __init__(self, model_dir: str, file_name: Optional[str] = None, num_threads: Optional[int] = None):
        import onnxruntime as ort

        from .modeling import load_image_processor

        path = Path(model_dir) / (file_name or find_onnx_file(model_dir))
        config = read_config(model_dir)
        check_fer_labels(config.get("id2label", {}), model_dir)
        super().__init__(model_dir, load_image_processor(model_dir), config["id2label"])
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.onnx_path = str(path)

    def logits(self, pixel_values: torch.Tensor) -> np.ndarray:
        return self.session.run(None, {self.input_name: pixel_values.numpy()})[0]


def load_classifier(model_dir: str, **kwargs) -> EmotionClassifier:
    """An ONNX classifier if `model_dir` holds an `.onnx` file, else a PyTorch one."""
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(
            f"Model directory '{model_dir}' does not exist. Pass a folder written by train.py or export.py."
        )
    if not os.path.isfile(os.path.join(model_dir, "config.json")):
        raise ValueError(
            f"'{model_dir}' has no config.json, so it is not a model written by train.py or export.py "
            "(look for the folder that holds config.json and model.safetensors or model.onnx)."
        )
    if any(name.endswith(".onnx") for name in os.listdir(model_dir)):
        return OnnxClassifier(model_dir, **kwargs)
    return TorchClassifier(model_dir, **kwargs)


def find_onnx_file(model_dir: str) -> str:
    """The one `.onnx` file in a directory (preferring `model_quantized.onnx`, then `model.onnx`)."""
    names = sorted(name for name in os.listdir(model_dir) if name.endswith(".onnx"))
    for preferred in ("model_quantized.onnx", "model.onnx"):
        if preferred in names:
            return preferred
    if len(names) != 1:
        raise ValueError(f"{model_dir} holds {len(names)} .onnx files ({names}); keep one per directory.")
    return names[0]


TTA_MODES = ("none", "hflip")  # test-time augmentation: hflip averages each face's probabilities with its mirror's


def check_tta(tta: str) -> None:
    """The one check of a `--tta` value, for evaluation and realtime alike."""
    if tta not in TTA_MODES:
        raise ValueError(f"Unknown --tta '{tta}'; use {' or '.join(TTA_MODES)}.")


def tta_views(faces: Sequence[np.ndarray], tta: str) -> List[np.ndarray]:
    """The crops a TTA mode classifies, in one batch: the faces, then (hflip) their mirrors. See `merge_tta_views`."""
    check_tta(tta)
    return list(faces) + ([face[:, ::-1] for face in faces] if tta == "hflip" else [])


def merge_tta_views(probs: np.ndarray, num_faces: int) -> np.ndarray:
    """Per-face mean of the probabilities of `tta_views`' crops: `(views * num_faces, C)` → `(num_faces, C)`."""
    return probs.reshape(-1, num_faces, probs.shape[-1]).mean(axis=0)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def read_config(model_dir: str) -> dict:
    """A model folder's `config.json` as a dict."""
    with open(os.path.join(model_dir, "config.json")) as f:
        return json.load(f)
