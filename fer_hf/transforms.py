"""On-the-fly preprocessing shared by training, evaluation, ONNX checks and realtime inference.

Faces are handled as single-channel `uint8` tensors until the last step, where they are repeated to the
three channels the backbone expects and normalised with the image processor's own mean and std (the
in21k ViT uses 0.5 / 0.5, not ImageNet statistics). Size and statistics are always read from the image
processor, never from constants, so a checkpoint's saved `preprocessor_config.json` drives every consumer.
"""

import math
from typing import Optional, Sequence, Union

import cv2
import numpy as np
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as F

from .errors import UserError
from .preprocess import decode_gray, image_size


ImageLike = Union[Image.Image, np.ndarray, torch.Tensor, dict]  # anything `decode_gray` reads


def processor_image_size(image_processor) -> tuple:
    """(height, width) the image processor resizes to."""
    return image_size(image_processor.size, type(image_processor).__name__)


def to_gray_tensor(image: ImageLike) -> torch.Tensor:
    """A `(1, H, W)` `uint8` tensor from anything `decode_gray` reads."""
    if isinstance(image, torch.Tensor) and image.dtype == torch.uint8 and image.ndim == 3 and image.shape[0] == 1:
        return image
    gray = decode_gray(image)
    if gray.ndim != 2:
        raise UserError(f"Expected a grayscale or RGB image, got an array of shape {gray.shape}.")
    return torch.from_numpy(np.array(gray, dtype=np.uint8))[None]  # a copy: decoded arrays may be read-only


def resize_faces(faces: Sequence[ImageLike], size) -> torch.Tensor:
    """`(B, 1, H, W)` `uint8` faces resized (antialiased bilinear) to `size`; one call when all inputs match in size."""
    if isinstance(faces, torch.Tensor) and faces.ndim == 4:
        return F.resize(faces, list(size), antialias=True)
    gray = [to_gray_tensor(face) for face in faces]
    if all(g.shape == gray[0].shape for g in gray):
        return F.resize(torch.stack(gray), list(size), antialias=True)
    return torch.stack([F.resize(g, list(size), antialias=True) for g in gray])


def normalize(gray: torch.Tensor, image_processor) -> torch.Tensor:
    """`(B, 1, H, W)` faces in 0-255 → `(B, 3, H, W)` float32 with the processor's rescale, mean and std.

    One fused multiply-add writes the three channels: `x * rescale / std - mean / std`.
    """
    rescale = getattr(image_processor, "rescale_factor", 1 / 255)
    mean = torch.tensor(image_processor.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(image_processor.image_std, dtype=torch.float32).view(1, 3, 1, 1)
    return torch.addcmul(-mean / std, gray.float(), rescale / std).contiguous()


def preprocess_faces(faces: Sequence[ImageLike], image_processor) -> torch.Tensor:
    """The evaluation preprocessing: grayscale → resize → 3 channels → normalise. Returns `(B, 3, H, W)`."""
    return normalize(resize_faces(faces, processor_image_size(image_processor)), image_processor)


def pixels_to_gray(pixels: Sequence[bytes], heights: Sequence[int], widths: Sequence[int]):
    """Raw grayscale rows (`decode_images`' `pixels`) → one `(B, 1, H, W)` `uint8` tensor when all share a size,
    else a list of `(1, H, W)` tensors."""
    if len(set(heights)) == 1 and len(set(widths)) == 1:
        return torch.frombuffer(bytearray(b"".join(pixels)), dtype=torch.uint8).view(len(pixels), 1, heights[0], widths[0])
    return [torch.frombuffer(bytearray(p), dtype=torch.uint8).view(1, h, w) for p, h, w in zip(pixels, heights, widths)]


def batch_gray(batch: dict):
    """A batch's faces as `uint8` grayscale: one `(B, 1, H, W)` tensor when decoded rows share a size, else a list of
    `(1, H, W)` tensors; from the raw `pixels` of `fer_hf.data.decode_images` or from the `image` column."""
    if "pixels" in batch:
        return pixels_to_gray(batch["pixels"], batch["height"], batch["width"])
    return [to_gray_tensor(image) for image in batch["image"]]


def random_resized_crop_boxes(n: int, height: int, width: int, scale=(0.8, 1.0), ratio=(3 / 4, 4 / 3), attempts: int = 10,
                              generator: Optional[torch.Generator] = None):  # fmt: skip
    """`(n, 4)` boxes `x0, y0, x1, y1` drawn as torchvision's RandomResizedCrop draws them, for a whole batch at once.

    Area fraction ~ U(scale), log aspect ratio ~ U(log ratio); the first of `attempts` draws that fits is kept, and a
    sample with none that fits gets the whole image.
    """
    area = height * width * torch.empty(n, attempts).uniform_(*scale, generator=generator)
    aspect = torch.exp(torch.empty(n, attempts).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator))
    w, h = torch.sqrt(area * aspect), torch.sqrt(area / aspect)
    fits = (w <= width) & (h <= height)
    first = torch.where(fits.any(1), fits.float().argmax(1), torch.full((n,), -1))
    rows = torch.arange(n)
    w = torch.where(first >= 0, w[rows, first.clamp(min=0)], torch.full((n,), float(width)))
    h = torch.where(first >= 0, h[rows, first.clamp(min=0)], torch.full((n,), float(height)))
    x0, y0 = torch.rand(n, generator=generator) * (width - w), torch.rand(n, generator=generator) * (height - h)
    return torch.stack([x0, y0, x0 + w, y0 + h], dim=1)


def crop_flip_rotate_matrix(box, flip: bool, angle: float, size) -> np.ndarray:
    """The 2x3 `cv2.warpAffine` matrix (source → output) that maps the box `x0, y0, x1, y1` onto an output of `size`
    `(H, W)`, pixel centre to pixel centre, then mirrors it (`flip`) and rotates it by `angle` degrees
    (counter-clockwise as displayed) about the output's centre."""
    x0, y0, x1, y1 = (float(v) for v in box)
    out_h, out_w = size
    sx, sy = out_w / (x1 - x0), out_h / (y1 - y0)
    matrix = np.array([[sx, 0.0, (0.5 - x0) * sx - 0.5], [0.0, sy, (0.5 - y0) * sy - 0.5], [0.0, 0.0, 1.0]])
    if flip:
        matrix[0] = -matrix[0]
        matrix[0, 2] += out_w - 1
    if angle:
        rotation = cv2.getRotationMatrix2D(((out_w - 1) / 2, (out_h - 1) / 2), angle, 1.0)
        matrix = np.vstack([rotation, [0.0, 0.0, 1.0]]) @ matrix
    return matrix[:2]


class FERTransform:
    """Batch transform for `Dataset.set_transform`: `{"image", "label"}` → `{"pixel_values", "labels"}`.

    Training batches get RandomResizedCrop and a horizontal flip, drawn per sample for the whole batch at once (as
    torchvision draws them) and applied together as one bilinear `cv2.warpAffine` per face, uint8 in and out: about
    15 us per 48 px face and 100 us per 224 px face, where torchvision's v2 `Compose` (PIL or tensor) costs several
    calls per image and `torchvision.ops.roi_align` on the batch 3x (48 px) to 10x (224 px) more. Validation and
    test batches are only resized.

    Args:
        image_processor: Supplies input size, rescale factor, mean and std.
        train: Augment (never for validation or test).
        crop_scale: Area range of RandomResizedCrop.
        hflip_prob: Probability of a horizontal flip.
        rotation_degrees: Rotate by an angle drawn from U(-d, d) about the centre (0: never), in the same warp.
        erasing_prob: Probability of random erasing (Zhong et al. 2020, as torchvision's `RandomErasing` with its
            defaults: a box of 2-33% of the area, aspect ratio 0.3-3.3, set to 0 after normalisation, i.e. to the
            mean). Drawn per face from `generator` like the crops (torchvision's draws one box per call and from
            the global RNG, which a resumed run could not redraw).
        generator: Where the random draws come from (`fer_hf.sampling.BatchSeeds.generator` in training, so that a
            resumed run redraws the same augmentations); None: torch's global RNG.
    """

    def __init__(self, image_processor, train: bool, crop_scale=(0.8, 1.0), hflip_prob: float = 0.5,
                 rotation_degrees: float = 0.0, erasing_prob: float = 0.0, generator: Optional[torch.Generator] = None):  # fmt: skip
        self.image_processor = image_processor
        self.train = train
        self.size = processor_image_size(image_processor)
        self.crop_scale = tuple(crop_scale)
        self.hflip_prob = hflip_prob
        self.rotation_degrees = rotation_degrees
        self.erasing_prob = erasing_prob
        self.generator = generator

    def augment(self, gray: torch.Tensor) -> torch.Tensor:
        """Random resized crops, flips and rotations of `(B, 1, h, w)` `uint8` faces → `(B, 1, H, W)` `uint8`."""
        out_h, out_w = self.size
        if gray.shape[-2] > out_h or gray.shape[-1] > out_w:  # shrink with antialiasing first; the warp only enlarges
            gray = F.resize(gray, [out_h, out_w], antialias=True)
        n, _, height, width = gray.shape
        boxes = random_resized_crop_boxes(n, height, width, self.crop_scale, generator=self.generator).double().numpy()
        flips = (torch.rand(n, generator=self.generator) < self.hflip_prob).numpy()
        angles = ((torch.rand(n, generator=self.generator) * 2 - 1) * self.rotation_degrees).numpy() if self.rotation_degrees else np.zeros(n)
        source = gray.numpy()
        out = np.empty((n, 1, out_h, out_w), dtype=np.uint8)
        for i in range(n):
            matrix = crop_flip_rotate_matrix(boxes[i], bool(flips[i]), float(angles[i]), (out_h, out_w))
            cv2.warpAffine(source[i, 0], matrix, (out_w, out_h), dst=out[i, 0], flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
        return torch.from_numpy(out)

    def erase(self, pixel_values: torch.Tensor) -> None:
        """Random erasing, in place, of `(B, C, H, W)` normalised faces: each face with probability `erasing_prob`."""
        n, _, height, width = pixel_values.shape
        chosen = torch.rand(n, generator=self.generator) < self.erasing_prob
        boxes = random_resized_crop_boxes(n, height, width, (0.02, 0.33), (0.3, 3.3), generator=self.generator).round().long()
        for i in torch.nonzero(chosen).flatten().tolist():
            x0, y0, x1, y1 = boxes[i].tolist()
            if (x1 - x0, y1 - y0) != (width, height):  # the whole face means no box fitted: torchvision erases nothing
                pixel_values[i, :, y0:y1, x0:x1] = 0.0

    def __call__(self, batch: dict) -> dict:
        gray = batch_gray(batch)
        if self.train:
            if not isinstance(gray, torch.Tensor):  # mixed sizes are brought to the input size first
                gray = resize_faces(gray, self.size) if any(g.shape != gray[0].shape for g in gray) else torch.stack(gray)
            pixel_values = normalize(self.augment(gray), self.image_processor)
            if self.erasing_prob:
                self.erase(pixel_values)
        else:
            pixel_values = preprocess_faces(gray, self.image_processor)
        out = {"pixel_values": pixel_values}
        if "label" in batch:
            out["labels"] = batch["label"]
        if "face_index" in batch:  # where MixUp's collator finds each face's teacher probabilities (distillation)
            out["face_index"] = batch["face_index"]
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(train={self.train}, size={self.size}, crop_scale={self.crop_scale}, hflip_prob={self.hflip_prob}, rotation_degrees={self.rotation_degrees}, erasing_prob={self.erasing_prob})"


def collate(examples: Sequence[dict]) -> dict:
    """Collate `{"pixel_values", "labels"}` examples into a batch, without copying when it can.

    `datasets` runs the batch transform on a whole batch and then hands the DataLoader one row view per example;
    re-stacking those views copies every pixel again (38 MB per batch of 64 at 224 px). When the rows are, in order,
    the rows of one tensor, that tensor is the batch. Anything else is stacked as `default_collate` would.
    """
    pixels = [example["pixel_values"] for example in examples]
    base = pixels[0]._base
    same = (
        base is not None
        and base.shape[0] == len(pixels)
        and all(p._base is base and p.data_ptr() == base[i].data_ptr() for i, p in enumerate(pixels))
    )
    batch = {
        "pixel_values": base if same else torch.stack(pixels),
        "labels": torch.as_tensor([example["labels"] for example in examples]),
    }
    if "face_index" in examples[0]:
        batch["face_index"] = torch.as_tensor([example["face_index"] for example in examples])
    return batch
