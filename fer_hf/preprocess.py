"""Inference preprocessing in NumPy and PIL: faces → the `(B, 3, H, W)` float32 array a model takes.

It does what the model folder's saved image processor (`preprocessor_config.json`, what `pipeline` runs) does to a
face: grayscale, resize with the processor's PIL filter, repeat to three channels, rescale and normalise with its
own mean and std. It is written out here, not called through `AutoImageProcessor`, so that the ONNX path imports
neither transformers nor torch (`fer-hf analyze` answers in a second instead of ten); a test checks it against the
saved processor on real faces. Training keeps its batched torch transforms (`fer_hf.transforms`).
"""

import io
import json
import os
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np
from PIL import Image

from .errors import UserError


ImageLike = Union[Image.Image, np.ndarray, dict, "torch.Tensor"]  # noqa: F821 (torch is not imported here)


@dataclass(frozen=True)
class ProcessorConfig:
    """Input size and pixel statistics of a model's image processor."""

    height: int
    width: int
    mean: tuple = (0.5, 0.5, 0.5)
    std: tuple = (0.5, 0.5, 0.5)
    rescale_factor: float = 1 / 255
    resample: int = Image.BILINEAR

    @classmethod
    def from_dict(cls, config: dict, source: str = "the image processor") -> "ProcessorConfig":
        height, width = image_size(config.get("size") or {}, source)
        return cls(height, width, tuple(config.get("image_mean") or cls.mean), tuple(config.get("image_std") or cls.std),
                   float(config.get("rescale_factor") or cls.rescale_factor), int(config.get("resample", Image.BILINEAR)))  # fmt: skip

    @classmethod
    def from_pretrained(cls, name_or_path: str) -> "ProcessorConfig":
        """From a model folder's `preprocessor_config.json`; for a Hub id, through `AutoImageProcessor`."""
        path = os.path.join(str(name_or_path), "preprocessor_config.json")
        if os.path.isfile(path):
            try:
                with open(path) as f:
                    return cls.from_dict(json.load(f), path)
            except ValueError as err:
                raise UserError(f"Cannot read {path}: {err}. Run train.py or export.py again.") from None
        from .loading import load_image_processor

        return cls.from_image_processor(load_image_processor(str(name_or_path)))

    @classmethod
    def from_image_processor(cls, image_processor) -> "ProcessorConfig":
        return cls.from_dict(image_processor.to_dict(), type(image_processor).__name__)


def image_size(size, source: str = "the image processor") -> tuple:
    """(height, width) from an image processor's `size`: `{"height", "width"}`, `{"shortest_edge"}` or an int."""
    if isinstance(size, int):
        return size, size
    if "height" in size and "width" in size:
        return int(size["height"]), int(size["width"])
    if "shortest_edge" in size:
        return int(size["shortest_edge"]), int(size["shortest_edge"])
    raise UserError(f"Cannot read an input size from {source} (size {size}).")


def decode_gray(image: ImageLike) -> np.ndarray:
    """An `(H, W)` `uint8` array from a PIL image, `{"bytes": ...}` (an undecoded `datasets.Image`), an `(H, W)` or
    `(H, W, 3)` RGB array, or a tensor."""
    if isinstance(image, dict):
        data, name = image.get("bytes"), image.get("path")
        if data:
            import cv2

            decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
            if decoded is not None:
                return decoded
        try:
            image = Image.open(io.BytesIO(data) if data else name)
            image.load()
        except (OSError, ValueError, TypeError):
            raise UserError(f"Cannot decode image {name or '(in memory)'}: corrupt or not an image. Remove it, or load "
                            "the data with --skip_malformed_rows.") from None  # fmt: skip
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("L"))
    if not isinstance(image, np.ndarray) and hasattr(image, "numpy"):  # a torch tensor, (1, H, W) or (H, W)
        image = image.numpy()
        image = image[0] if image.ndim == 3 and image.shape[0] == 1 else image
    if image.ndim == 3:
        # Luma weights of ITU-R BT.601, as PIL's convert("L") uses.
        image = (image[..., :3] @ np.array([0.299, 0.587, 0.114])).round().clip(0, 255)
    return np.asarray(image, dtype=np.uint8)


def preprocess(faces: Sequence[ImageLike], config: ProcessorConfig) -> np.ndarray:
    """Grayscale faces (or RGB, converted) → `(B, 3, H, W)` float32, as the saved image processor makes them."""
    size = (config.width, config.height)
    gray = np.empty((len(faces), config.height, config.width), dtype=np.float32)
    for i, face in enumerate(faces):
        face = decode_gray(face)
        if face.ndim != 2 or face.size == 0:
            raise UserError(f"Expected a grayscale or RGB image, got an array of shape {face.shape}.")
        gray[i] = face if face.shape == (config.height, config.width) else np.asarray(
            Image.fromarray(np.ascontiguousarray(face)).resize(size, resample=config.resample))  # fmt: skip
    mean = np.asarray(config.mean, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(config.std, dtype=np.float32).reshape(1, 3, 1, 1)
    return np.ascontiguousarray(gray[:, None] * np.float32(config.rescale_factor) / std - mean / std, dtype=np.float32)
