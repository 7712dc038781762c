"""Video and image I/O and drawing: frame sources, annotated-video and log writers, boxes and labels on frames.

- `open_source` reads a webcam index, a video file, an image file or a folder of images, as BGR frames.
- `VideoSink` and `FrameLog` write the annotated video (or image) and the per-face log through a temporary sibling
  that is renamed when closed, so an output appears whole or not at all.
- `video_writer` is the one place that picks a codec for a file name (used by the demo's sample videos too).
- `draw_faces` draws boxes, `label confidence%` tags and optional probability bars.
"""

import csv
import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import cv2
import numpy as np

from .errors import UserError
from .outputs import PendingFile, atomic_file, check_writable_file

if TYPE_CHECKING:
    from .recognizer import Face


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}
OUTPUT_VIDEO_SUFFIXES = (".mp4", ".avi")
LOG_SUFFIXES = (".jsonl", ".csv")


def video_writer(path, fps: float, size) -> cv2.VideoWriter:
    """An OpenCV writer for `path` (`.mp4`: mp4v, else MJPG) at `fps` and `size` `(width, height)`."""
    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if str(path).lower().endswith(".mp4") else "MJPG"))
    return cv2.VideoWriter(str(path), fourcc, fps, tuple(size))


def check_outputs(output, log) -> None:
    """Refuse, before the camera or model starts, an `--output` or `--log` that cannot be written."""
    if output:
        check_writable_file(output, "--output", OUTPUT_VIDEO_SUFFIXES + tuple(sorted(IMAGE_SUFFIXES)))
    if log:
        check_writable_file(log, "--log", LOG_SUFFIXES)


class SourceError(UserError):
    """A camera, video, image or folder that cannot be read."""


def unreadable_image(name) -> str:
    """The error for an image file OpenCV cannot decode."""
    return f"Cannot read image {name} (corrupt or not an image); pass a photo OpenCV reads ({', '.join(sorted(IMAGE_SUFFIXES))})."


def unreadable_video(name) -> str:
    """The error for a video file OpenCV cannot open."""
    return f"Cannot open video {name}: OpenCV does not read it (corrupt file or unknown codec); re-encode it, e.g. to H.264 MP4."


def check_readable_file(path, name=None) -> None:
    """Raise `SourceError` now when an image or video file cannot be read, so a bad file named on the command line is
    reported before any model or detector is loaded."""
    path = Path(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        if cv2.imread(str(path)) is None:
            raise SourceError(unreadable_image(name or path))
        return
    capture = cv2.VideoCapture(str(path))
    opened = capture.isOpened()
    capture.release()
    if not opened:
        raise SourceError(unreadable_video(name or path))


def open_source(source: str) -> Iterator[np.ndarray]:
    """Frames (BGR) from a webcam index, a video file, an image file or a folder of images."""
    if str(source).isdigit():
        capture = cv2.VideoCapture(int(source))
        if not capture.isOpened():
            raise SourceError(f"No camera at index {source}; check it is connected and free, or pass --source a video/image path.")
        return LatestFrames(capture, f"camera {source}")
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
        raise SourceError(unreadable_video(path))
    return _read_capture(capture, str(path))


def source_fps(source: str, default: float = 25.0) -> float:
    """The frame rate a video or camera reports, for writing the annotated video at the same speed."""
    if Path(str(source)).is_file() and Path(source).suffix.lower() not in IMAGE_SUFFIXES:
        capture = cv2.VideoCapture(str(source))
        fps = capture_fps(capture, default)
        capture.release()
        return fps
    return default


def capture_fps(capture: cv2.VideoCapture, default: float = 25.0) -> float:
    """An open capture's frame rate, or `default` where it reports none or nonsense."""
    fps = capture.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps and 1 <= fps <= 240 else default


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


class LatestFrames:
    """A camera read on its own thread, handing out only its newest frame.

    Reading overlaps detection and classification, and a loop slower than the camera labels what the camera sees
    now instead of working through frames the driver buffered earlier (a growing lag); frames it had no time for are
    counted in `dropped`. The thread starts with the first frame asked for, so a camera can be opened (and a missing
    one reported) before a model loads without the frames of the loading time counting as dropped. Iterate it like
    any other source; `close()` (or the end of the iteration) stops the thread and releases the camera. No library
    offers this for OpenCV captures (imutils' `WebcamVideoStream` is the same idea, unmaintained).
    """

    FIRST_FRAME_TIMEOUT_S = 10.0

    def __init__(self, capture, name: str):
        self.capture, self.name, self.dropped = capture, name, 0
        self._frame, self._ended, self._error, self._stop, self._started = None, False, None, False, False
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._read, name=f"fer-hf {name}", daemon=True)

    def _read(self) -> None:
        try:
            while not self._stop:
                ok, frame = self.capture.read()
                with self._ready:
                    if not ok:
                        break
                    # the loop did not take the previous one (before its first, only frames the driver buffered)
                    self.dropped += self._frame is not None and self._started
                    self._frame = frame
                    self._ready.notify()
        except Exception as error:  # handed to the reading loop, which raises it there
            self._error = error
        finally:
            with self._ready:
                self._ended = True
                self._ready.notify()

    def __iter__(self):
        return self

    def __next__(self) -> np.ndarray:
        if self._thread.ident is None and not self._stop:
            self._thread.start()
        with self._ready:
            timeout = None if self._started else self.FIRST_FRAME_TIMEOUT_S
            self._ready.wait_for(lambda: self._frame is not None or self._ended, timeout)
            frame, self._frame = self._frame, None
        if self._error is not None:
            self.close()
            raise self._error
        if frame is None:
            self.close()
            if not self._started:
                raise SourceError(f"{self.name} delivered no frame (busy, unplugged or without permission); check it "
                                  "works in another application, or pass --source a video/image path.")  # fmt: skip
            raise StopIteration
        self._started = True
        return frame

    def close(self) -> None:
        self._stop = True
        if self._thread.ident is not None:
            self._thread.join(timeout=2.0)
        if not self._thread.is_alive():  # never release a capture another thread is still reading
            self.capture.release()


def _read_images(files: Sequence[Path], strict: bool = False) -> Iterator[np.ndarray]:
    for file in files:
        frame = cv2.imread(str(file))
        if frame is None:
            if strict:
                raise SourceError(unreadable_image(file))
            logging.getLogger(__name__).warning("Skipping unreadable image %s", file)
            continue
        yield frame


COLOURS = {  # BGR, one per FER2013 class
    "Angry": (40, 40, 220), "Disgust": (40, 140, 40), "Fear": (160, 60, 160), "Happy": (40, 200, 240),
    "Sad": (200, 120, 40), "Surprise": (240, 160, 200), "Neutral": (180, 180, 180),
}  # fmt: skip


def draw_faces(frame: np.ndarray, faces: Sequence["Face"], show_probs: bool = False) -> np.ndarray:
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


class FaceLog:
    """One row per face, as JSON lines (`.jsonl`) or CSV (`.csv`, one column per emotion; a spreadsheet opens it).

    Each row starts with its context (`file`, `frame`, `time_s`, ... as the caller names them in `context_columns`),
    then the box, label, confidence and the seven probabilities; JSON lines also carry the landmarks. An image with
    no face gets one row whose label is `no face found`, when the caller asks for it; a file that could not be read,
    one whose label is `unreadable file` (`note`).

    Written to a temporary sibling and renamed to `path` by `close()`, so the log appears whole, however the run ends.
    """

    NO_FACE = "no face found"
    UNREADABLE = "unreadable file"

    def __init__(self, path: str, labels: Sequence[str], context_columns: Sequence[str] = ("frame", "time_s", "track_id")):
        self.path, self.labels, self.context_columns = path, list(labels), list(context_columns)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._pending = PendingFile(path)
        self.file = open(self._pending.tmp, "w", newline="", encoding="utf-8")
        self.csv = None
        if Path(path).suffix.lower() == ".csv":
            self.csv = csv.writer(self.file)
            self.csv.writerow([*self.context_columns, "x", "y", "w", "h", "label", "confidence", *self.labels])

    def write(self, context: dict, faces: Sequence["Face"], note_if_empty: bool = False) -> None:
        """Rows for `faces` under `context` (a face's own `track_id` fills that column when it is one)."""
        if not faces and note_if_empty:
            self.note(context, self.NO_FACE)
        for face in faces:
            row = {**context, **({"track_id": face.track_id} if "track_id" in self.context_columns else {})}
            if self.csv:
                self.csv.writerow([row.get(c, "") for c in self.context_columns] + [*face.box, face.label, f"{face.confidence:.4f}"]
                                  + [f"{face.probs[n]:.4f}" for n in self.labels])  # fmt: skip
            else:
                record = {**row, **face.to_dict(), "confidence": round(face.confidence, 4),
                          "emotions": {k: round(v, 4) for k, v in face.probs.items()}}  # fmt: skip
                self.file.write(json.dumps(record) + "\n")

    def note(self, context: dict, text: str) -> None:
        """A row with no face whose label is `text` (`NO_FACE`, `UNREADABLE`)."""
        if self.csv:
            self.csv.writerow([context.get(c, "") for c in self.context_columns] + ["", "", "", "", text, ""] + [""] * len(self.labels))
        else:
            self.file.write(json.dumps({**context, "label": text}) + "\n")

    def close(self, keep: bool = True) -> None:
        """Finish the file under its name (`keep`), or remove it (a batch run that did not finish)."""
        self.file.close()
        self._pending.commit() if keep else self._pending.discard()


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
            self._pending = PendingFile(self.path)
            self.writer = video_writer(self._pending.tmp, self.fps, self.size)
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
