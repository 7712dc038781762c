"""The recognizer API: detect every face of an image, classify all of them in one call, return `Face` records.

    >>> from fer_hf.recognizer import EmotionRecognizer
    >>> recognizer = EmotionRecognizer.from_pretrained()  # the shipped laptop model, YuNet when available
    >>> faces = recognizer.predict(cv2.imread("group.jpg"))  # BGR array, grayscale array, or a PIL image

Faces are cropped with a margin (optionally aligned on YuNet's eye landmarks) and classified by an
`EmotionClassifier`, which preprocesses them as the model's saved image processor does and averages each face with
its mirror and a 10% tighter view of both (`tta="hflip+zoom"`, the default) in the same inference call.
"""

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import cv2
import numpy as np

from .detection import PHOTO_DETECT_WIDTH, VIDEO_DETECT_WIDTH, Detections, HaarFaceDetector, create_detector, crop_faces
from .errors import UserError
from .inference import DEFAULT_TTA, EmotionClassifier, check_tta, load_classifier


PACKAGE_DIR = Path(__file__).resolve().parent
# int8: the shipped TinyViT's int8 export (int8 MatMuls, fp32 convolutions) scores 66.40% on PublicTest with the default
# hflip+zoom TTA where fp32 scores 66.37%, is faster (1.51 vs 1.90 ms per face at batch 1, 0.84 vs 1.13 at batch 8 on
# the faster AVX-512 Xeon of BENCHMARKS.md) and 3x smaller (4.9 vs 15.4 MB); the fp32 export ships beside it.
SHIPPED_MODEL = "fer2013-cpu-small"
SHIPPED_SUBFOLDER = "onnx-int8"
SHIPPED_HUB_ID = "fer-hf/fer2013-cpu-small"
# Where the shipped model is found: inside an installed wheel (package data), then in a source checkout.
SHIPPED_MODEL_DIRS = (PACKAGE_DIR / "shipped" / SHIPPED_MODEL / SHIPPED_SUBFOLDER,
                      PACKAGE_DIR.parent / "models" / SHIPPED_MODEL / SHIPPED_SUBFOLDER)  # fmt: skip
DEMO_MODEL_DIR = Path("outputs") / "demo" / "export" / "onnx-int8"


@dataclass
class Face:
    """One recognised face: box `x, y, w, h` in frame pixels, label, confidence and all probabilities; the five
    landmarks `[[x, y], ...]` when the detector gives them; the track for video."""

    box: tuple
    label: str
    confidence: float
    probs: dict
    track_id: Optional[int] = None
    landmarks: Optional[list] = None

    def to_dict(self) -> dict:
        """Plain data (JSON-ready), as `fer_hf.analyze` returns it."""
        out = {"box": list(self.box), "label": self.label, "confidence": self.confidence, "emotions": dict(self.probs)}
        if self.landmarks is not None:
            out["landmarks"] = self.landmarks
        if self.track_id is not None:
            out["track_id"] = self.track_id
        return out


class EmotionRecognizer:
    """Detect, crop, preprocess and classify every face of an image, with no window needed.

    Args:
        classifier: The emotion model (`fer_hf.inference.load_classifier`).
        detector: A face detector (`fer_hf.detection.create_detector`); default: OpenCV's Haar cascade.
        margin: Crop margin around each face box, as a fraction of its size.
        tta: `hflip+zoom` (each face averaged with its mirror and a 10% tighter view of both, in the same call),
            `hflip` (with its mirror) or `none`.
        align: Rotate each face so its eyes are level before classifying (needs a detector with landmarks).
    """

    def __init__(self, classifier: EmotionClassifier, detector=None, margin: float = 0.1, tta: str = DEFAULT_TTA,
                 align: bool = False):  # fmt: skip
        check_tta(tta)
        self.classifier = classifier
        self.detector = detector or HaarFaceDetector()
        self.margin = margin
        self.tta = tta
        self.align = align
        self.timings = {}  # seconds of the last call, per stage

    @classmethod
    def from_pretrained(cls, model: Optional[str] = None, detector: str = "auto", yunet_model: Optional[str] = None,
                        margin: float = 0.1, tta: str = DEFAULT_TTA, subfolder: Optional[str] = None, align: bool = False,
                        detect_width: int = VIDEO_DETECT_WIDTH, min_size: int = 60) -> "EmotionRecognizer":  # fmt: skip
        """Load a model (a local ONNX or PyTorch folder, or a Hub id with an optional `subfolder`; default: the
        shipped laptop model) and a detector (`auto`: YuNet when its model can be had, else Haar)."""
        classifier = load_classifier(str(default_model_dir()) if model is None else str(model), subfolder)
        return cls(classifier, create_detector(detector, yunet_model, detect_width, min_size), margin, tta, align)

    def detect_and_classify(self, frame_bgr: np.ndarray, still: bool = False):
        """Detections and probabilities `(N, 7)` of every face in a BGR (or grayscale) frame; fills `self.timings`.

        `still`: a photo, detected at up to `PHOTO_DETECT_WIDTH` pixels wide to find small faces.
        """
        t0 = time.perf_counter()
        gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY) if frame_bgr.ndim == 3 else frame_bgr
        detections: Detections = self.detector.detect(frame_bgr, gray, PHOTO_DETECT_WIDTH if still else None)
        t1 = time.perf_counter()
        probs = np.zeros((0, len(self.classifier.id2label)), dtype=np.float32)
        t2 = t3 = t1
        if len(detections):
            landmarks = detections.landmarks if self.align else None
            crops = crop_faces(gray, detections.boxes, self.margin, landmarks)
            pixel_values = self.classifier.preprocess(crops)
            t2 = time.perf_counter()
            probs = self.classifier.predict_pixels(pixel_values, self.tta)  # faces and mirrors in one call
            t3 = time.perf_counter()
        self.timings = {"detect": t1 - t0, "preprocess": t2 - t1, "infer": t3 - t2}
        return detections, probs

    def predict(self, image, still: bool = True) -> List[Face]:
        """Faces in one image (BGR array as OpenCV reads it, grayscale array, or PIL image), largest first."""
        if not isinstance(image, np.ndarray):
            image = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)
        detections, probs = self.detect_and_classify(image, still=still)
        return sorted(self.faces(detections, probs), key=lambda f: -f.box[2] * f.box[3])

    def track(self, frame_bgr: np.ndarray, tracker) -> tuple:
        """One video frame: its detections, and its `Face` records followed by `tracker` (a `FaceTracker`) with their
        probabilities smoothed from frame to frame, in detection order."""
        detections, probs = self.detect_and_classify(frame_bgr)
        tracks = tracker.update(detections.boxes, probs)
        return detections, self.faces(detections, [t.probs for t in tracks], [t.track_id for t in tracks])

    def faces(self, detections: Detections, probs, track_ids: Optional[list] = None) -> List[Face]:
        """`Face` records of one frame's detections, in their order (with each face's track, for video)."""
        return [self.face(box, probs[i], None if track_ids is None else track_ids[i],
                          None if detections.landmarks is None else detections.landmarks[i])
                for i, box in enumerate(detections.boxes)]  # fmt: skip

    def face(self, box, probs, track_id: Optional[int] = None, landmarks: Optional[np.ndarray] = None) -> Face:
        """A `Face` record from a box and its probabilities (and optionally a track and landmarks)."""
        labels = self.classifier.labels
        best = int(np.argmax(probs))
        points = None if landmarks is None else [[round(float(x), 1), round(float(y), 1)] for x, y in landmarks]
        return Face(tuple(int(v) for v in box), labels[best], float(probs[best]),
                    {name: float(p) for name, p in zip(labels, probs)}, track_id, points)  # fmt: skip


def default_model_dir() -> Path:
    """The shipped model (installed with the package, or in this source checkout); else the demo's (trained on
    synthetic faces) under ./outputs; else a clear error."""
    for folder in SHIPPED_MODEL_DIRS:
        if (folder / "config.json").exists():
            return folder
    if (DEMO_MODEL_DIR / "config.json").exists():
        logging.getLogger(__name__).warning(
            "Using the demo model %s: it was trained on synthetic cartoon faces, so its labels on real faces are not "
            "meaningful. Pass --model with a model trained on FER2013.", DEMO_MODEL_DIR
        )
        return DEMO_MODEL_DIR
    raise UserError(
        f"No model given, and the shipped {SHIPPED_MODEL} is not installed here; pass --model DIR (a folder from "
        f"export.py or train.py) or a Hub id (--model {SHIPPED_HUB_ID} --subfolder {SHIPPED_SUBFOLDER})."
    )


def relative(path) -> str:
    """`path` as the user would type it from here (relative when under the current folder)."""
    path = os.path.abspath(str(path))
    return os.path.relpath(path) if path.startswith(os.getcwd() + os.sep) else path
