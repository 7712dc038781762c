"""The one-call API: `fer_hf.analyze("photo.jpg")` returns every face of a photo with its emotions, as plain data.

Like the `fer` package's `FER().detect_emotions(img)` and `DeepFace.analyze(path)`: lists of dicts, no framework
types. It is `EmotionRecognizer` (detection, one batched classification, mirror-image TTA) behind a cache of loaded
models, so calling it in a loop loads the model once.
"""

from functools import lru_cache
from pathlib import Path
from typing import List, Optional, Union

import numpy as np

from .errors import UserError
from .inference import DEFAULT_TTA


@lru_cache(maxsize=4)
def _recognizer(model: Optional[str], subfolder: Optional[str], detector: str, tta: str, align: bool):
    from .recognizer import EmotionRecognizer

    return EmotionRecognizer.from_pretrained(model, detector, tta=tta, subfolder=subfolder, align=align)


def _as_image(image):
    """A BGR array (as OpenCV reads files), from a path, a BGR/grayscale array or a PIL image."""
    import cv2

    if isinstance(image, (str, Path)):
        frame = cv2.imread(str(image))
        if frame is None:
            raise UserError(f"Cannot read image {image}: no such file, or not an image OpenCV reads.")
        return frame
    if isinstance(image, np.ndarray) or hasattr(image, "convert"):
        return image
    raise UserError(f"analyze() takes an image path, a NumPy array or a PIL image, got {type(image).__name__}.")


def analyze(images, model: Optional[str] = None, subfolder: Optional[str] = None, detector: str = "auto",
            tta: str = DEFAULT_TTA, align: bool = False) -> Union[List[dict], List[List[dict]]]:  # fmt: skip
    """Every face in an image, largest first: `{"box": [x, y, w, h], "label", "confidence", "emotions": {7 probs}}`,
    plus `"landmarks"` (eyes, nose tip, mouth corners as `[x, y]`) when the detector gives them (YuNet).

    Args:
        images: A path, a BGR (or grayscale) array as OpenCV gives it, a PIL image, or a list of them.
        model: A model folder (ONNX export or train.py checkpoint) or a Hub id; default: the shipped laptop model.
        subfolder: The folder inside `model` to load, e.g. `"onnx-int8"` of a Hub repo.
        detector: `auto` (YuNet when its model is cached or downloadable, else Haar), `yunet` or `haar`.
        tta: `hflip+zoom` (each face averaged with its mirror and a 10% tighter view of both, the default), `hflip`
            (with its mirror) or `none`.
        align: Rotate each face so its eyes are level before classifying (YuNet only).

    Returns:
        For one image, the list of its faces (empty when none is found); for a list, one such list per image.
    """
    recognizer = _recognizer(str(model) if model is not None else None, subfolder, detector, tta, align)
    single = not isinstance(images, (list, tuple))
    results = [[face.to_dict() for face in recognizer.predict(_as_image(image), still=True)] for image in ([images] if single else images)]
    return results[0] if single else results
