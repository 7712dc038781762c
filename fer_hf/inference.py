"""One interface over the model formats this project writes: a PyTorch checkpoint or an ONNX export.

`load_classifier(model_dir)` returns an `EmotionClassifier` whose `predict_proba(faces)` takes grayscale faces
and returns `(B, 7)` probabilities. Preprocessing always comes from the directory's saved image-processor
config, and labels are checked against FER2013's, so evaluation, export checks and realtime inference all
see a model the same way.
"""

from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch

from .errors import UserError
from .labels import check_fer_labels, config_id2label
from .loading import check_model_folder, find_onnx_file, is_onnx_folder, load_image_processor, load_model, read_config
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

        from .outputs import check_export_marker

        path = Path(model_dir) / (file_name or find_onnx_file(model_dir))
        check_export_marker(model_dir, path.name)
        id2label = config_id2label(read_config(model_dir))
        check_fer_labels(id2label, model_dir)
        super().__init__(model_dir, load_image_processor(model_dir), id2label)
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # ONNX Runtime's pybind errors (InvalidProtobuf, Fail, ...) share no public base
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"Cannot load {path}: not a valid ONNX model ({first[:200]}). Run export.py again.") from None
        num_outputs = self.session.get_outputs()[0].shape[-1]
        if isinstance(num_outputs, int) and num_outputs != len(self.id2label):
            raise UserError(f"{path} outputs {num_outputs} classes but {model_dir}/config.json names {len(self.id2label)}; "
                            "the two do not belong together. Run export.py again.")  # fmt: skip
        self.input_name = self.session.get_inputs()[0].name
        self.onnx_path = str(path)

    def logits(self, pixel_values: torch.Tensor) -> np.ndarray:
        return self.session.run(None, {self.input_name: pixel_values.numpy()})[0]


def load_classifier(model_dir: str, **kwargs) -> EmotionClassifier:
    """An ONNX classifier if `model_dir` holds an `.onnx` file, else a PyTorch one."""
    check_model_folder(model_dir)
    if is_onnx_folder(model_dir):
        return OnnxClassifier(model_dir, **kwargs)
    return TorchClassifier(model_dir, **kwargs)


TTA_MODES = ("none", "hflip")  # test-time augmentation: hflip averages each face's probabilities with its mirror's


def check_tta(tta: str) -> None:
    """The one check of a `--tta` value, for evaluation and realtime alike."""
    if tta not in TTA_MODES:
        raise UserError(f"Unknown --tta '{tta}'; use {' or '.join(TTA_MODES)}.")


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
