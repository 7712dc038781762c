"""Face detection: YuNet (the default, with five landmarks) or OpenCV's Haar cascade, and face crops.

- `YuNetFaceDetector` runs OpenCV's YuNet CNN (`cv2.FaceDetectorYN`, MIT). Its model is OpenCV Zoo's published file,
  downloaded once from the Hub with `hf_hub_download` at a pinned revision, checked against its published sha256 and
  cached (`yunet_model_file`). It finds faces that the cascade misses (half covered, turned, small) and gives five
  landmarks per face: right eye, left eye, nose tip, right and left mouth corner.
- `HaarFaceDetector` is the fallback that needs no download (OpenCV ships the cascade).
- Both detect on a copy scaled to `detect_width` (320 px: a few ms per frame in realtime); still photos are
  detected at up to `PHOTO_DETECT_WIDTH`, where faces of 1-2% of an 8000-px-wide photo are still found.
- `create_detector("auto")` picks YuNet whenever its model can be had, else Haar with a one-line note.
"""

import logging
import math
import os
from dataclasses import dataclass
from typing import List, Optional

import cv2
import numpy as np

from .errors import UserError


DETECTORS = ("auto", "yunet", "haar")
VIDEO_DETECT_WIDTH = 320
PHOTO_DETECT_WIDTH = 1280

# OpenCV Zoo's YuNet (2023mar) as published on the Hub; the sha256 is OpenCV Zoo's published checksum of the file.
YUNET_REPO = "opencv/face_detection_yunet"
YUNET_FILE = "face_detection_yunet_2023mar.onnx"
YUNET_REVISION = "3cc26e7f1014a5ee5d74a42acee58bafc9d0a310"
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"

logger = logging.getLogger(__name__)


@dataclass
class Detections:
    """Faces found in one frame: `boxes` `(N, 4)` int `x, y, w, h` in frame pixels; `landmarks` `(N, 5, 2)` float
    (right eye, left eye, nose tip, right and left mouth corner) when the detector gives them, else None."""

    boxes: np.ndarray
    landmarks: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.boxes)


def _scale_for(width: int, detect_width: Optional[int]) -> float:
    return min(1.0, detect_width / width) if detect_width else 1.0


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade, run on a frame downscaled to `detect_width` for speed.

    Args:
        detect_width: Width the frame is scaled down to before detection (0: full resolution).
        scale_factor: Image-pyramid step of `detectMultiScale` (larger is faster, coarser).
        min_neighbors: Detections a face needs to be kept (larger: fewer false positives).
        min_size: Smallest face, in pixels of the full-resolution frame (at least 20 px of the detection copy).
    """

    name = "haar"

    def __init__(self, detect_width: int = VIDEO_DETECT_WIDTH, scale_factor: float = 1.2, min_neighbors: int = 5, min_size: int = 60):
        path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise UserError(f"OpenCV could not load its Haar cascade {path}; install opencv-python<5.")
        self.detect_width, self.scale_factor, self.min_neighbors, self.min_size = detect_width, scale_factor, min_neighbors, min_size

    def detect(self, frame_bgr: np.ndarray, gray: Optional[np.ndarray] = None, detect_width: Optional[int] = None) -> Detections:
        gray = gray if gray is not None else cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        scale = _scale_for(gray.shape[1], self.detect_width if detect_width is None else detect_width)
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
        # Video: `min_size` frame pixels; a photo (`detect_width` given): any face of 20 px in the detection copy.
        min_size = max(8, int(self.min_size * scale)) if detect_width is None else 20
        boxes = self.cascade.detectMultiScale(small, self.scale_factor, self.min_neighbors, minSize=(min_size, min_size))
        return Detections((np.asarray(boxes, dtype=np.float32).reshape(-1, 4) / scale).round().astype(np.int32))


class YuNetFaceDetector:
    """OpenCV's YuNet CNN detector (`cv2.FaceDetectorYN`) on a copy of the frame scaled to `detect_width`."""

    name = "yunet"

    def __init__(self, model_path: str, detect_width: int = VIDEO_DETECT_WIDTH, score_threshold: float = 0.8,
                 nms_threshold: float = 0.3):  # fmt: skip
        if not os.path.isfile(model_path):
            raise UserError(f"YuNet model '{model_path}' not found; pass --yunet_model the path of its .onnx file.")
        try:
            self.detector = cv2.FaceDetectorYN.create(model_path, "", (320, 320), score_threshold, nms_threshold)
        except cv2.error:
            raise UserError(f"OpenCV cannot load '{model_path}' as a YuNet model; pass the face_detection_yunet_*.onnx file.") from None
        self.model_path, self.detect_width = model_path, detect_width

    def detect(self, frame_bgr: np.ndarray, gray: Optional[np.ndarray] = None, detect_width: Optional[int] = None) -> Detections:
        if frame_bgr.ndim == 2:
            frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR)
        scale = _scale_for(frame_bgr.shape[1], self.detect_width if detect_width is None else detect_width)
        small = cv2.resize(frame_bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else frame_bgr
        self.detector.setInputSize((small.shape[1], small.shape[0]))
        _, faces = self.detector.detect(small)
        if faces is None:
            return Detections(np.zeros((0, 4), dtype=np.int32), np.zeros((0, 5, 2), dtype=np.float32))
        faces = faces / scale
        boxes = faces[:, :4].round().astype(np.int32)
        boxes[:, :2] = np.maximum(boxes[:, :2], 0)  # YuNet may reach past the frame's edge
        return Detections(boxes, faces[:, 4:14].reshape(-1, 5, 2).astype(np.float32))


def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the Hub's host answers within `timeout` seconds (huggingface_hub itself retries for ~20 s offline)."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout=timeout).close()
        return True
    except OSError:
        return False


def yunet_model_file(required: bool = False) -> Optional[str]:
    """OpenCV's YuNet model from the Hub cache, downloaded there once when missing; checked against its sha256.

    Without a cached copy and without the Hub: None, or a `UserError` when `required` (`--detector yunet`).
    """
    from huggingface_hub import hf_hub_download

    from .loading import first_line
    from .outputs import sha256_file

    try:
        path = hf_hub_download(YUNET_REPO, YUNET_FILE, revision=YUNET_REVISION, local_files_only=True)
    except Exception:  # not cached (LocalEntryNotFoundError) or an unreadable cache: download below
        path = None
    if path is None:
        error = "the Hugging Face Hub is not reachable"
        if hub_reachable():
            try:
                path = hf_hub_download(YUNET_REPO, YUNET_FILE, revision=YUNET_REVISION)
            except Exception as err:  # HTTP, disk or permission errors share no narrower base in huggingface_hub
                error = first_line(err)
        if path is None:
            if required:
                raise UserError(f"--detector yunet: cannot download {YUNET_REPO}/{YUNET_FILE} ({error}); run once with "
                                "network access, pass --yunet_model PATH, or use --detector haar.")  # fmt: skip
            return None
    if sha256_file(path) != YUNET_SHA256:
        raise UserError(f"{path} is not OpenCV's published YuNet model (its sha256 differs); delete it and run again.")
    return path


def create_detector(name: str = "auto", yunet_model: Optional[str] = None, detect_width: int = VIDEO_DETECT_WIDTH,
                    min_size: int = 60):  # fmt: skip
    """A face detector: `yunet`, `haar`, or `auto` (YuNet when its model is given, cached or downloadable, else Haar
    with a one-line note)."""
    if name not in DETECTORS:
        raise UserError(f"Unknown detector '{name}'; choose {', '.join(DETECTORS)}.")
    if name == "haar":
        return HaarFaceDetector(detect_width, min_size=min_size)
    path = yunet_model or yunet_model_file(required=name == "yunet")
    if path:
        return YuNetFaceDetector(path, detect_width)
    logger.warning("note: YuNet's face-detector model is not cached and the Hub is unreachable, so OpenCV's Haar cascade "
                   "is used (it misses turned and covered faces); run once online, or pass --yunet_model PATH.")  # fmt: skip
    return HaarFaceDetector(detect_width, min_size=min_size)


def crop_faces(gray: np.ndarray, boxes: np.ndarray, margin: float = 0.1, landmarks: Optional[np.ndarray] = None) -> List[np.ndarray]:
    """Crops of `gray` around each box, enlarged by `margin` of its size on every side and clipped to the frame.

    With `landmarks`, each face is first rotated about its box centre so that its eye line is level (alignment).
    """
    height, width = gray.shape[:2]
    crops = []
    for i, (x, y, w, h) in enumerate(boxes):
        if landmarks is not None:
            crops.append(aligned_crop(gray, (x, y, w, h), landmarks[i], margin))
            continue
        dx, dy = int(w * margin), int(h * margin)
        x0, y0 = max(0, x - dx), max(0, y - dy)
        x1, y1 = min(width, x + w + dx), min(height, y + h + dy)
        crops.append(gray[y0:y1, x0:x1])
    return crops


def aligned_crop(gray: np.ndarray, box, landmarks: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """The face in `box` (plus `margin`), rotated about the box centre so the line from the right to the left eye is
    level; one `cv2.warpAffine` into the crop (pixels outside the frame repeat the border)."""
    x, y, w, h = (float(v) for v in box)
    (rx, ry), (lx, ly) = landmarks[0], landmarks[1]
    angle = math.degrees(math.atan2(ly - ry, lx - rx))
    out_w, out_h = int(round(w * (1 + 2 * margin))), int(round(h * (1 + 2 * margin)))
    matrix = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), angle, 1.0)
    matrix[:, 2] += (out_w / 2 - (x + w / 2), out_h / 2 - (y + h / 2))  # the box centre → the crop centre
    return cv2.warpAffine(gray, matrix, (max(out_w, 1), max(out_h, 1)), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
