"""One interface over the model formats this project writes: a PyTorch checkpoint or an ONNX export.

`load_classifier(model)` returns an `EmotionClassifier` whose `predict_proba(faces, tta=...)` takes grayscale faces
and returns `(B, 7)` probabilities in one inference call. Preprocessing always comes from the folder's saved
image-processor config (`fer_hf.preprocess`), labels are checked against FER2013's, and test-time augmentation is
the classifier's own job, so evaluation, export checks, the API and realtime all see a model the same way.

The ONNX path imports neither torch nor transformers: they load only for a PyTorch checkpoint.
"""

import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .errors import UserError
from .labels import check_fer_labels, config_id2label
from .loading import check_model_folder, find_onnx_file, is_hub_id, is_onnx_folder, read_config
from .preprocess import ImageLike, ProcessorConfig, preprocess


# Test-time augmentation: `hflip` averages each face's probabilities with its mirror's; `hflip+zoom` also with a view
# 10% tighter (the centre 90% of the input, resized back) and its mirror. The training crops cover 80-100% of a face's
# area, so the tighter view is one the model learned from; on PublicTest it adds 1.0 point to the shipped model's
# hflip score (1.7 to the previous model's; docs/laptop-model.md), for twice the inference work.
TTA_MODES = ("none", "hflip", "hflip+zoom")
ZOOM = 0.9
# The default of realtime, the API and the web demo: 66.4% on PublicTest for the shipped int8 model, against 65.4% with
# the mirror alone and 64.5% with one view; all faces and their views in one batched call.
DEFAULT_TTA = "hflip+zoom"


def check_tta(tta: str) -> None:
    """The one check of a `--tta` value, for evaluation and realtime alike."""
    if tta not in TTA_MODES:
        raise UserError(f"Unknown --tta '{tta}'; use {', '.join(TTA_MODES[:-1])} or {TTA_MODES[-1]}.")


class EmotionClassifier:
    """Base class: preprocessing from the saved image processor, TTA, then a backend's `logits`."""

    kind = "base"

    def __init__(self, model_dir: str, processor: ProcessorConfig, id2label: dict):
        self.model_dir = str(model_dir)
        self.processor = processor
        self.id2label = {int(k): v for k, v in id2label.items()}

    @property
    def labels(self) -> list:
        return [self.id2label[i] for i in range(len(self.id2label))]

    def preprocess(self, faces: Sequence[ImageLike]) -> np.ndarray:
        return preprocess(faces, self.processor)

    def logits(self, pixel_values: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict_proba(self, faces: Sequence[ImageLike], tta: str = "none") -> np.ndarray:
        """`(B, num_labels)` softmax probabilities for a batch of faces, in one inference call (see `predict_pixels`)."""
        check_tta(tta)
        if len(faces) == 0:
            return np.zeros((0, len(self.id2label)), dtype=np.float32)
        return self.predict_pixels(self.preprocess(faces), tta)

    def predict_pixels(self, pixel_values: np.ndarray, tta: str = "none") -> np.ndarray:
        """Probabilities of preprocessed faces `(B, 3, H, W)`. `tta="hflip"` mirrors them and averages each face's
        probabilities with its mirror's; `hflip+zoom` adds the zoomed view and its mirror. All views of all faces go
        through the model in the same call."""
        num_faces = len(pixel_values)
        probs = softmax(self.logits(np.ascontiguousarray(tta_views(pixel_values, tta))))
        return probs.reshape(-1, num_faces, probs.shape[-1]).mean(axis=0)


class TorchClassifier(EmotionClassifier):
    """A `from_pretrained` checkpoint run with PyTorch."""

    kind = "pytorch"

    def __init__(self, model, processor: ProcessorConfig, model_dir: str = "(in memory)"):
        """A classifier around a model in memory (e.g. the one being trained), on its own device, as it is (set
        `model.eval()` first for inference); `from_pretrained` loads one from a folder."""
        super().__init__(model_dir, processor, model.config.id2label)
        self.model, self.device = model, next(model.parameters()).device

    @classmethod
    def from_pretrained(cls, model_dir: str, device: Optional[str] = None) -> "TorchClassifier":
        """The checkpoint in `model_dir`, in eval mode, on `device` (default: CUDA when there is one)."""
        import torch

        from .loading import load_model

        model = load_model(model_dir).eval().to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        return cls(model, ProcessorConfig.from_pretrained(model_dir), model_dir)

    def logits(self, pixel_values: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.model(pixel_values=torch.from_numpy(pixel_values).to(self.device)).logits.float().cpu().numpy()


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
        super().__init__(model_dir, ProcessorConfig.from_pretrained(model_dir), id2label)
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

    def logits(self, pixel_values: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.asarray(pixel_values, dtype=np.float32)})[0]


def resolve_model(model: str, subfolder: Optional[str] = None) -> str:
    """A local model folder for `model`: a local path as given, or a Hub repo (`user/repo`) downloaded once into the
    Hugging Face cache with `huggingface_hub.snapshot_download` (all of it, or only `subfolder`, e.g. `onnx-int8`)."""
    local = os.path.join(model, subfolder) if subfolder else model
    if os.path.exists(local) or not is_hub_id(model):
        return local
    from huggingface_hub import snapshot_download

    try:
        root = snapshot_download(model, allow_patterns=[f"{subfolder}/*"] if subfolder else None)
    except Exception as err:  # offline, missing repo, no access: huggingface_hub's errors share no narrower base
        from .loading import first_line

        raise UserError(f"Cannot get model '{model}' from the Hugging Face Hub ({first_line(err)}); check the repo id "
                        "and the network, or pass a local folder.") from None  # fmt: skip
    return os.path.join(root, subfolder) if subfolder else root


def load_classifier(model: str, subfolder: Optional[str] = None, flag: str = "--model", **kwargs) -> EmotionClassifier:
    """An ONNX classifier if the folder holds an `.onnx` file, else a PyTorch one; `model` may be a Hub id."""
    model_dir = resolve_model(str(model), subfolder)
    check_model_folder(model_dir, flag)
    if is_onnx_folder(model_dir):
        return OnnxClassifier(model_dir, **kwargs)
    return TorchClassifier.from_pretrained(model_dir, **kwargs)


def tta_views(pixel_values: np.ndarray, tta: str) -> np.ndarray:
    """The `(V * B, 3, H, W)` views of `B` preprocessed faces for one inference call, view by view: the faces, then
    (`hflip+zoom`) their zoomed copies, then (any TTA) the mirrors of all of these."""
    check_tta(tta)
    if tta == "hflip+zoom":
        pixel_values = np.concatenate([pixel_values, zoom_center(pixel_values, ZOOM)])
    return pixel_values if tta == "none" else np.concatenate([pixel_values, pixel_values[..., ::-1]])


def zoom_center(pixel_values: np.ndarray, fraction: float) -> np.ndarray:
    """The centre `fraction` of each `(3, H, W)` input (in height and width), resized back to `H x W` (bilinear)."""
    import cv2

    height, width = pixel_values.shape[-2:]
    crop_h, crop_w = round(height * fraction), round(width * fraction)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    planes = pixel_values[..., top : top + crop_h, left : left + crop_w].reshape(-1, crop_h, crop_w)
    resized = [cv2.resize(np.ascontiguousarray(plane), (width, height), interpolation=cv2.INTER_LINEAR) for plane in planes]
    return np.stack(resized).reshape(pixel_values.shape).astype(pixel_values.dtype, copy=False)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
