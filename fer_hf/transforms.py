"""On-the-fly preprocessing shared by training, evaluation, ONNX checks and realtime inference.

Faces are handled as single-channel `uint8` tensors until the last step, where they are repeated to the
three channels the backbone expects and normalised with the image processor's own mean and std (the
in21k ViT uses 0.5 / 0.5, not ImageNet statistics). Size and statistics are always read from the image
processor, never from constants, so a checkpoint's saved `preprocessor_config.json` drives every consumer.
"""

from typing import Sequence, Union

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F


ImageLike = Union[Image.Image, np.ndarray, torch.Tensor]


def processor_image_size(image_processor) -> tuple:
    """(height, width) the image processor resizes to."""
    size = image_processor.size
    if "height" in size and "width" in size:
        return size["height"], size["width"]
    if "shortest_edge" in size:
        return size["shortest_edge"], size["shortest_edge"]
    raise ValueError(f"Cannot read an input size from image processor size {size}.")


def to_gray_tensor(image: ImageLike) -> torch.Tensor:
    """A `(1, H, W)` `uint8` tensor from a PIL image, an `(H, W)` or `(H, W, 3)` RGB array, or a tensor."""
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("L"))
    if isinstance(image, np.ndarray):
        if image.ndim == 3:
            # Luma weights of ITU-R BT.601, as PIL's convert("L") uses.
            image = (image[..., :3] @ np.array([0.299, 0.587, 0.114])).round().clip(0, 255).astype(np.uint8)
        image = torch.from_numpy(np.array(image, dtype=np.uint8))  # a copy: decoded arrays may be read-only
    if image.ndim == 2:
        image = image.unsqueeze(0)
    if image.ndim != 3 or image.shape[0] != 1:
        raise ValueError(f"Expected a grayscale image, got a tensor of shape {tuple(image.shape)}.")
    return image


def normalize(gray: torch.Tensor, image_processor) -> torch.Tensor:
    """`(B, 1, H, W)` `uint8` faces → `(B, 3, H, W)` float32 normalised with the processor's mean and std."""
    images = F.to_dtype(gray.expand(-1, 3, -1, -1), torch.float32, scale=True)
    return F.normalize(images, mean=list(image_processor.image_mean), std=list(image_processor.image_std))


def preprocess_faces(faces: Sequence[ImageLike], image_processor) -> torch.Tensor:
    """The evaluation preprocessing: grayscale → resize → 3 channels → normalise. Returns `(B, 3, H, W)`."""
    size = list(processor_image_size(image_processor))
    resized = [F.resize(to_gray_tensor(face), size, antialias=True) for face in faces]
    return normalize(torch.stack(resized), image_processor)


class FERTransform:
    """Batch transform for `Dataset.set_transform`: `{"image", "label"}` → `{"pixel_values", "labels"}`.

    Args:
        image_processor: Supplies input size, mean and std.
        train: Apply RandomResizedCrop and horizontal flip (never for validation or test).
        crop_scale: Area range of RandomResizedCrop.
        hflip_prob: Probability of a horizontal flip.
    """

    def __init__(self, image_processor, train: bool, crop_scale=(0.8, 1.0), hflip_prob: float = 0.5):
        self.image_processor = image_processor
        self.train = train
        size = list(processor_image_size(image_processor))
        self.augment = v2.Compose(
            [v2.RandomResizedCrop(size, scale=tuple(crop_scale), antialias=True), v2.RandomHorizontalFlip(hflip_prob)]
        )

    def __call__(self, batch: dict) -> dict:
        if self.train:
            faces = torch.stack([self.augment(to_gray_tensor(image)) for image in batch["image"]])
            pixel_values = normalize(faces, self.image_processor)
        else:
            pixel_values = preprocess_faces(batch["image"], self.image_processor)
        out = {"pixel_values": pixel_values}
        if "label" in batch:
            out["labels"] = batch["label"]
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(train={self.train}, augment={self.augment if self.train else None})"
