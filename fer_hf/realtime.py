"""Realtime emotion recognition: detect every face in a frame, classify all of them in one call, smooth over time.

- `HaarFaceDetector` (OpenCV's cascade shipped with opencv-python) and `YuNetFaceDetector` (`cv2.FaceDetectorYN`,
  given its model file) share one small interface: `detect(frame_bgr, gray) -> (N, 4)` boxes `x, y, w, h`.
- Faces are cropped with a margin and preprocessed by the same function as evaluation (`preprocess_faces`),
  then classified in one batched call per frame.
- `FaceTracker` matches faces across frames by IoU and smooths each track's probabilities with an exponential
  moving average, so a steady face does not flicker; a track unseen for `max_missed` frames is dropped.
- `EmotionRecognizer` is the Python API: `EmotionRecognizer.from_pretrained(model_dir).predict(image)`.
"""

import csv
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import cv2
import numpy as np

from .errors import UserError
from .inference import EmotionClassifier, check_tta, load_classifier, merge_tta_views, softmax, tta_views
from .outputs import PendingFile, atomic_file, check_writable_file


REPO_ROOT = Path(__file__).resolve().parents[1]
# int8: the shipped TinyViT's int8 export (int8 MatMuls, fp32 convolutions) scores as fp32 does on PublicTest (62.02% vs
# 62.02% with the default hflip TTA, 99.7% top-1 agreement), is faster (2.08 vs 2.45 ms per face at batch 1, 1.20 vs
# 1.61 at batch 8, export_report.json) and 3x smaller (4.9 vs 15.4 MB); the fp32 export ships beside it.
DEFAULT_MODEL_DIR = REPO_ROOT / "models" / "fer2013-cpu-small" / "onnx-int8"
# Each face is classified with its mirror image and the two averaged: +0.5 points on PublicTest for the shipped
# model (62.0% vs 61.5%; +2.2 for the earlier MobileViT), one batched call for all faces and their mirrors.
DEFAULT_TTA = "hflip"
DEMO_MODEL_DIR = REPO_ROOT / "outputs" / "demo" / "export" / "onnx-int8"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


# ---------------------------------------------------------------------------------------------------
# Detection


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade, run on a frame downscaled to `detect_width` for speed.

    Args:
        detect_width: Width the frame is scaled down to before detection (0: full resolution).
        scale_factor: Image-pyramid step of `detectMultiScale` (larger is faster, coarser).
        min_neighbors: Detections a face needs to be kept (larger: fewer false positives).
        min_size: Smallest face, in pixels of the full-resolution frame.
    """

    def __init__(self, detect_width: int = 320, scale_factor: float = 1.2, min_neighbors: int = 5, min_size: int = 60):
        path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise RuntimeError(f"OpenCV could not load its Haar cascade {path}; install opencv-python<5.")
        self.detect_width, self.scale_factor, self.min_neighbors, self.min_size = detect_width, scale_factor, min_neighbors, min_size

    def detect(self, frame_bgr: np.ndarray, gray: np.ndarray) -> np.ndarray:
        scale = min(1.0, self.detect_width / gray.shape[1]) if self.detect_width else 1.0
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
        min_size = max(8, int(self.min_size * scale))
        boxes = self.cascade.detectMultiScale(small, self.scale_factor, self.min_neighbors, minSize=(min_size, min_size))
        return (np.asarray(boxes, dtype=np.float32).reshape(-1, 4) / scale).round().astype(np.int32)


class YuNetFaceDetector:
    """OpenCV's YuNet CNN detector (`cv2.FaceDetectorYN`); needs its ONNX file (`face_detection_yunet_*.onnx`)."""

    def __init__(self, model_path: str, score_threshold: float = 0.8, nms_threshold: float = 0.3):
        if not os.path.isfile(model_path):
            raise UserError(f"YuNet model '{model_path}' not found; pass --yunet_model the path of its .onnx file.")
        self.detector = cv2.FaceDetectorYN.create(model_path, "", (320, 320), score_threshold, nms_threshold)

    def detect(self, frame_bgr: np.ndarray, gray: np.ndarray) -> np.ndarray:
        height, width = frame_bgr.shape[:2]
        self.detector.setInputSize((width, height))
        _, faces = self.detector.detect(frame_bgr)
        if faces is None:
            return np.zeros((0, 4), dtype=np.int32)
        return faces[:, :4].round().astype(np.int32)


def create_detector(name: str = "haar", yunet_model: Optional[str] = None, **haar_kwargs):
    """`haar` (default, with `HaarFaceDetector`'s keyword arguments) or `yunet` (with `yunet_model`)."""
    if name == "haar":
        return HaarFaceDetector(**haar_kwargs)
    if name == "yunet":
        if not yunet_model:
            raise UserError("--detector yunet needs --yunet_model path/to/face_detection_yunet.onnx.")
        return YuNetFaceDetector(yunet_model)
    raise UserError(f"Unknown detector '{name}'; choose haar or yunet.")


def crop_faces(gray: np.ndarray, boxes: np.ndarray, margin: float = 0.1) -> List[np.ndarray]:
    """Crops of `gray` around each box, enlarged by `margin` of its size on every side and clipped to the frame."""
    height, width = gray.shape[:2]
    crops = []
    for x, y, w, h in boxes:
        dx, dy = int(w * margin), int(h * margin)
        x0, y0 = max(0, x - dx), max(0, y - dy)
        x1, y1 = min(width, x + w + dx), min(height, y + h + dy)
        crops.append(gray[y0:y1, x0:x1])
    return crops


# ---------------------------------------------------------------------------------------------------
# Tracking and smoothing


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection-over-union of `x, y, w, h` boxes: `(len(a), len(b))`."""
    a, b = np.asarray(a, dtype=np.float64).reshape(-1, 4), np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax1, ay1, bx1, by1 = a[:, None, 0], a[:, None, 1], b[None, :, 0], b[None, :, 1]
    ax2, ay2 = ax1 + a[:, None, 2], ay1 + a[:, None, 3]
    bx2, by2 = bx1 + b[None, :, 2], by1 + b[None, :, 3]
    inter = np.clip(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0, None) * np.clip(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0, None)
    union = a[:, None, 2] * a[:, None, 3] + b[None, :, 2] * b[None, :, 3] - inter
    return inter / np.maximum(union, 1e-9)


@dataclass
class Track:
    track_id: int
    box: np.ndarray
    probs: np.ndarray
    missed: int = 0
    total: np.ndarray = field(default=None)  # summed probabilities over the track's life, for the summary
    frames: int = 0


class FaceTracker:
    """Greedy IoU matching of faces to tracks, and an EMA of each track's probabilities.

    Args:
        smoothing: EMA weight of the past, in [0, 1): `p = smoothing * p_prev + (1 - smoothing) * p_new`; 0 is off.
        iou_threshold: Minimum IoU for a face to continue a track.
        max_missed: Frames a track may go unseen before it is dropped.
    """

    def __init__(self, smoothing: float = 0.6, iou_threshold: float = 0.3, max_missed: int = 5):
        if not 0.0 <= smoothing < 1.0:
            raise UserError(f"--smoothing must be in [0, 1), got {smoothing}.")
        self.smoothing, self.iou_threshold, self.max_missed = smoothing, iou_threshold, max_missed
        self.tracks: List[Track] = []
        self.finished: List[Track] = []
        self._next_id = 0

    def update(self, boxes: np.ndarray, probs: np.ndarray) -> List[Track]:
        """Assign this frame's faces to tracks; returns the track of each face, in the order of `boxes`."""
        overlaps = iou(boxes, [t.box for t in self.tracks]) if self.tracks and len(boxes) else np.zeros((len(boxes), 0))
        assigned: List[Optional[Track]] = [None] * len(boxes)
        used = set()
        # Greedy: the best-overlapping pairs first.
        for flat in np.argsort(-overlaps, axis=None):
            face, track = np.unravel_index(flat, overlaps.shape)
            if overlaps[face, track] < self.iou_threshold:
                break
            if assigned[face] is None and track not in used:
                assigned[face] = self.tracks[track]
                used.add(track)
        for face, track in enumerate(assigned):
            if track is None:
                track = Track(self._next_id, boxes[face], probs[face].copy(), total=np.zeros_like(probs[face]))
                self._next_id += 1
                self.tracks.append(track)
                assigned[face] = track
            else:
                track.probs = self.smoothing * track.probs + (1.0 - self.smoothing) * probs[face]
            track.box, track.missed = boxes[face], 0
            track.total = track.total + probs[face]
            track.frames += 1
        seen = {id(t) for t in assigned}
        for track in self.tracks:
            if id(track) not in seen:
                track.missed += 1
        self.finished += [t for t in self.tracks if t.missed > self.max_missed]
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return assigned

    def all_tracks(self) -> List[Track]:
        return sorted(self.finished + self.tracks, key=lambda t: t.track_id)


# ---------------------------------------------------------------------------------------------------
# Recognition


@dataclass
class Face:
    """One recognised face: box `x, y, w, h` in frame pixels, label, confidence and all probabilities."""

    box: tuple
    label: str
    confidence: float
    probs: dict
    track_id: Optional[int] = None


class EmotionRecognizer:
    """Detect, crop, preprocess and classify every face of an image, with no window needed.

    >>> recognizer = EmotionRecognizer.from_pretrained("models/fer2013-cpu-small/onnx-int8")
    >>> faces = recognizer.predict(cv2.imread("group.jpg"))  # BGR array, or a PIL image
    """

    def __init__(self, classifier: EmotionClassifier, detector=None, margin: float = 0.1, tta: str = DEFAULT_TTA):
        check_tta(tta)
        self.classifier = classifier
        self.detector = detector or HaarFaceDetector()
        self.margin = margin
        self.tta = tta  # "hflip": average each face with its mirror, as `evaluate_model.py --tta hflip` does
        self.timings = {}  # seconds of the last call, per stage

    @classmethod
    def from_pretrained(cls, model_dir: Optional[str] = None, detector: str = "haar", yunet_model: Optional[str] = None,
                        margin: float = 0.1, tta: str = DEFAULT_TTA, **detector_kwargs) -> "EmotionRecognizer":  # fmt: skip
        """Load a model folder (int8/fp32 ONNX or PyTorch checkpoint; default: the shipped model)."""
        model_dir = str(model_dir or default_model_dir())
        return cls(load_classifier(model_dir), create_detector(detector, yunet_model, **detector_kwargs), margin, tta)

    def detect_and_classify(self, frame_bgr: np.ndarray):
        """Boxes `(N, 4)` and probabilities `(N, 7)` of every face in a BGR frame; fills `self.timings`."""
        t0 = time.perf_counter()
        gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY) if frame_bgr.ndim == 3 else frame_bgr
        boxes = self.detector.detect(frame_bgr if frame_bgr.ndim == 3 else cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), gray)
        t1 = time.perf_counter()
        probs = np.zeros((0, len(self.classifier.id2label)), dtype=np.float32)
        t2 = t3 = t1
        if len(boxes):
            pixel_values = self.classifier.preprocess(tta_views(crop_faces(gray, boxes, self.margin), self.tta))
            t2 = time.perf_counter()
            logits = self.classifier.logits(pixel_values)  # one batched call for all faces (and their mirrors)
            probs = merge_tta_views(softmax(logits), len(boxes))
            t3 = time.perf_counter()
        self.timings = {"detect": t1 - t0, "preprocess": t2 - t1, "infer": t3 - t2}
        return boxes, probs

    def predict(self, image) -> List[Face]:
        """Faces in one image (BGR array as OpenCV reads it, grayscale array, or PIL image), largest first."""
        if not isinstance(image, np.ndarray):
            image = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)
        boxes, probs = self.detect_and_classify(image)
        faces = [self._face(box, p) for box, p in zip(boxes, probs)]
        return sorted(faces, key=lambda f: -f.box[2] * f.box[3])

    def _face(self, box, probs, track_id=None) -> Face:
        labels = self.classifier.labels
        best = int(np.argmax(probs))
        return Face(tuple(int(v) for v in box), labels[best], float(probs[best]),
                    {name: float(p) for name, p in zip(labels, probs)}, track_id)  # fmt: skip


def default_model_dir() -> Path:
    """The model shipped in the repository; else the demo's (trained on synthetic faces); else a clear error."""
    if (DEFAULT_MODEL_DIR / "config.json").exists():
        return DEFAULT_MODEL_DIR
    if (DEMO_MODEL_DIR / "config.json").exists():
        logging.getLogger(__name__).warning(
            "Using the demo model %s: it was trained on synthetic cartoon faces, so its labels on real faces are not "
            "meaningful. Pass --model with a model trained on FER2013.", DEMO_MODEL_DIR
        )
        return DEMO_MODEL_DIR
    raise UserError(
        f"No model given, and neither the shipped {DEFAULT_MODEL_DIR} nor the demo's {DEMO_MODEL_DIR} exists; "
        "pass --model DIR (a folder from export.py or train.py), or run `make demo` first."
    )


# ---------------------------------------------------------------------------------------------------
# Sources, drawing


class SourceError(UserError):
    """A camera, video, image or folder that cannot be read."""


def open_source(source: str) -> Iterator[np.ndarray]:
    """Frames (BGR) from a webcam index, a video file, an image file or a folder of images."""
    if str(source).isdigit():
        capture = cv2.VideoCapture(int(source))
        if not capture.isOpened():
            raise SourceError(f"No camera at index {source}; check it is connected and free, or pass --source a video/image path.")
        return _read_capture(capture, f"camera {source}")
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise SourceError(f"Folder {path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}).")
        return _read_images(files)
    if not path.exists():
        raise SourceError(f"Source '{source}' does not exist; pass a webcam index (0), a video, an image or a folder.")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _read_images([path], strict=True)
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise SourceError(f"Cannot open video {path}: OpenCV does not read it (corrupt file or unknown codec).")
    return _read_capture(capture, str(path))


def source_fps(source: str, default: float = 25.0) -> float:
    """The frame rate a video or camera reports, for writing the annotated video at the same speed."""
    if Path(str(source)).is_file() and Path(source).suffix.lower() not in IMAGE_SUFFIXES:
        capture = cv2.VideoCapture(str(source))
        fps = capture.get(cv2.CAP_PROP_FPS)
        capture.release()
        if fps and 1 <= fps <= 240:
            return float(fps)
    return default


def _read_capture(capture, name: str) -> Iterator[np.ndarray]:
    try:
        ok, frame = capture.read()
        if not ok:
            raise SourceError(f"{name} delivered no frame (empty, corrupt or busy).")
        while ok:
            yield frame
            ok, frame = capture.read()
    finally:
        capture.release()


def _read_images(files: Sequence[Path], strict: bool = False) -> Iterator[np.ndarray]:
    for file in files:
        frame = cv2.imread(str(file))
        if frame is None:
            if strict:
                raise SourceError(f"Cannot read image {file} (corrupt or not an image).")
            logging.getLogger(__name__).warning("Skipping unreadable image %s", file)
            continue
        yield frame


COLOURS = {  # BGR, one per FER2013 class
    "Angry": (40, 40, 220), "Disgust": (40, 140, 40), "Fear": (160, 60, 160), "Happy": (40, 200, 240),
    "Sad": (200, 120, 40), "Surprise": (240, 160, 200), "Neutral": (180, 180, 180),
}  # fmt: skip


def draw_faces(frame: np.ndarray, faces: Sequence[Face], show_probs: bool = False) -> np.ndarray:
    """Boxes, `label confidence%` tags and (optionally) the seven probability bars, drawn in place."""
    for face in faces:
        x, y, w, h = face.box
        colour = COLOURS.get(face.label, (0, 255, 0))
        cv2.rectangle(frame, (x, y), (x + w, y + h), colour, 2)
        tag = f"{face.label} {100 * face.confidence:.0f}%" + (f" #{face.track_id}" if face.track_id is not None else "")
        (tw, th), _ = cv2.getTextSize(tag, cv2.FONT_HERSHEY_SIMPLEX, 0.55, 1)
        cv2.rectangle(frame, (x, max(0, y - th - 8)), (x + tw + 6, y), colour, -1)
        cv2.putText(frame, tag, (x + 3, max(th, y - 5)), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        if show_probs:
            for i, (name, p) in enumerate(face.probs.items()):
                by = y + h + 14 + 13 * i
                cv2.putText(frame, f"{name[:3]}", (x, by), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
                cv2.rectangle(frame, (x + 30, by - 9), (x + 30 + int(80 * p), by), COLOURS.get(name, (0, 255, 0)), -1)
    return frame


def draw_overlay(frame: np.ndarray, fps: float, timings: dict) -> None:
    """FPS and per-stage latency (ms) in the top-left corner."""
    text = f"{fps:5.1f} FPS | " + " ".join(f"{k} {1000 * v:.1f}ms" for k, v in timings.items())
    cv2.rectangle(frame, (0, 0), (12 + 8 * len(text), 24), (0, 0, 0), -1)
    cv2.putText(frame, text, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)


# ---------------------------------------------------------------------------------------------------
# The stream loop


LOG_SUFFIXES = (".jsonl", ".csv")
VIDEO_SUFFIXES = (".mp4", ".avi")


def check_outputs(output: Optional[str], log: Optional[str]) -> None:
    """Refuse, before the camera or model starts, an `--output` or `--log` that cannot be written."""
    if output:
        check_writable_file(output, "--output", VIDEO_SUFFIXES + tuple(sorted(IMAGE_SUFFIXES)))
    if log:
        check_writable_file(log, "--log", LOG_SUFFIXES)


class FrameLog:
    """One record per face per frame, as JSON lines (`.jsonl`) or CSV (`.csv`).

    Written to a temporary sibling and renamed to `path` by `close()`, so the log appears whole, however the run ends.
    """

    def __init__(self, path: str, labels: Sequence[str]):
        self.path, self.labels = path, list(labels)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._pending = PendingFile(path)
        self.file = open(self._pending.tmp, "w", newline="")
        self.csv = None
        if Path(path).suffix.lower() == ".csv":
            self.csv = csv.writer(self.file)
            self.csv.writerow(["frame", "time_s", "track_id", "x", "y", "w", "h", "label", "confidence", *self.labels])

    def write(self, frame_index: int, time_s: float, faces: Sequence[Face]) -> None:
        for face in faces:
            if self.csv:
                self.csv.writerow([frame_index, f"{time_s:.4f}", face.track_id, *face.box, face.label, f"{face.confidence:.4f}",
                                   *[f"{face.probs[n]:.4f}" for n in self.labels]])  # fmt: skip
            else:
                record = {"frame": frame_index, "time_s": round(time_s, 4), "track_id": face.track_id, "box": list(face.box),
                          "label": face.label, "confidence": round(face.confidence, 4),
                          "probs": {k: round(v, 4) for k, v in face.probs.items()}}  # fmt: skip
                self.file.write(json.dumps(record) + "\n")

    def close(self) -> None:
        self.file.close()
        self._pending.commit()


class VideoSink:
    """Annotated frames to a video file (frames resized to the first frame's size) or, for one image, an image file.

    Both are written to a temporary sibling and renamed by `close()`: a killed run leaves no unplayable file under
    the name the user asked for.
    """

    def __init__(self, path: str, fps: float):
        self.path, self.fps, self.writer, self.size, self.last = path, fps, None, None, None
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.is_image = Path(path).suffix.lower() in IMAGE_SUFFIXES
        self._pending = None

    def write(self, frame: np.ndarray) -> None:
        if self.is_image:
            self.last = frame
            return
        if self.writer is None:
            self.size = (frame.shape[1], frame.shape[0])
            fourcc = cv2.VideoWriter_fourcc(*("mp4v" if self.path.lower().endswith(".mp4") else "MJPG"))
            self._pending = PendingFile(self.path)
            self.writer = cv2.VideoWriter(str(self._pending.tmp), fourcc, self.fps, self.size)
            if not self.writer.isOpened():
                self._pending.discard()
                self.writer = None
                raise SourceError(f"Cannot write video {self.path}; use a .mp4 or .avi file name.")
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size)
        self.writer.write(frame)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self._pending.commit()
        if self.is_image and self.last is not None:
            write_image(self.path, self.last)


def write_image(path: str, image: np.ndarray) -> None:
    """`cv2.imwrite`, atomically, with a clear error when OpenCV cannot write the file."""
    with atomic_file(path) as tmp:
        if not cv2.imwrite(str(tmp), image):
            raise SourceError(f"Cannot write image {path}; use a .jpg or .png file name in a writable folder.")


@dataclass
class StreamSummary:
    frames: int = 0
    faces: int = 0
    seconds: float = 0.0
    stage_ms: dict = field(default_factory=dict)  # stage -> list of per-frame milliseconds
    tracks: list = field(default_factory=list)  # (track_id, frames, dominant label)
    infer_calls: int = 0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def percentiles(self) -> dict:
        return {stage: (float(np.percentile(v, 50)), float(np.percentile(v, 95))) for stage, v in self.stage_ms.items() if v}

    def format(self) -> str:
        lines = [f"{self.frames} frames, {self.faces} faces, mean {self.fps:.1f} FPS ({self.infer_calls} inference calls)",
                 f"{'stage':<11} {'p50 ms':>8} {'p95 ms':>8}"]  # fmt: skip
        lines += [f"{stage:<11} {p50:>8.2f} {p95:>8.2f}" for stage, (p50, p95) in self.percentiles().items()]
        if self.tracks:
            lines.append("tracks: " + ", ".join(f"#{tid} {label} ({n} frames)" for tid, n, label in self.tracks))
        return "\n".join(lines)


def run_stream(recognizer: EmotionRecognizer, frames, tracker: Optional[FaceTracker] = None, output: Optional[str] = None,
               log: Optional[str] = None, display: bool = False, show_probs: bool = False, fps: float = 25.0,
               max_frames: Optional[int] = None) -> StreamSummary:  # fmt: skip
    """Label every face of every frame; write the annotated video and the log; return timing statistics.

    Output files are closed (and valid) however the loop ends: end of stream, `q`/Esc, Ctrl-C or an error.
    """
    tracker = tracker or FaceTracker()
    summary = StreamSummary(stage_ms={s: [] for s in ("detect", "preprocess", "infer", "draw", "total")})
    sink = VideoSink(output, fps) if output else None
    frame_log = FrameLog(log, recognizer.classifier.labels) if log else None
    shown_fps, start = 0.0, time.perf_counter()
    try:
        for index, frame in enumerate(frames):
            if max_frames is not None and index >= max_frames:
                break
            t0 = time.perf_counter()
            boxes, probs = recognizer.detect_and_classify(frame)
            summary.infer_calls += int(len(boxes) > 0)
            tracks = tracker.update(boxes, probs)
            faces = [recognizer._face(box, track.probs, track.track_id) for box, track in zip(boxes, tracks)]
            t_draw = time.perf_counter()
            draw_faces(frame, faces, show_probs)
            draw_overlay(frame, shown_fps, recognizer.timings)
            timings = {**recognizer.timings, "draw": time.perf_counter() - t_draw}
            if sink:
                sink.write(frame)
            if frame_log:
                frame_log.write(index, t0 - start, faces)
            summary.frames += 1
            summary.faces += len(faces)
            if display and _show(frame):
                break
            elapsed = time.perf_counter() - t0
            timings["total"] = elapsed
            for stage, seconds in timings.items():
                summary.stage_ms[stage].append(1000 * seconds)
            shown_fps = 1.0 / elapsed if shown_fps == 0 else 0.9 * shown_fps + 0.1 / max(elapsed, 1e-6)
    except KeyboardInterrupt:
        pass
    finally:
        summary.seconds = time.perf_counter() - start
        if sink:
            sink.close()
        if frame_log:
            frame_log.close()
        if display:
            cv2.destroyAllWindows()
    labels = recognizer.classifier.labels
    summary.tracks = [(t.track_id, t.frames, labels[int(np.argmax(t.total))]) for t in tracker.all_tracks()]
    return summary


def display_available() -> bool:
    """Whether a window can open: always on Windows and macOS, on Linux only with an X11 or Wayland display (OpenCV's
    Qt backend aborts the whole process, uncatchably, when it finds none)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _show(frame: np.ndarray) -> bool:
    """Show a frame; True when the user pressed q or Esc."""
    try:
        cv2.imshow("fer-hf", frame)
    except cv2.error:
        raise SourceError("Cannot open a window here (no display or no GUI support in OpenCV); use --no-display.") from None
    return cv2.waitKey(1) & 0xFF in (ord("q"), 27)
