"""Batch analysis of photos and videos: one row per face, per-track summaries and timelines for videos.

- Photos are independent: each is detected at up to `PHOTO_DETECT_WIDTH` pixels wide (small faces are found), with
  no tracking, no smoothing and no FPS overlay; a photo with no face gets a `no face found` row.
- Videos give one row per face per frame with its time, faces followed across frames by IoU (`FaceTracker`, no
  smoothing: rows hold each frame's own probabilities), a summary per track (dominant emotion, share of frames
  with each emotion on top) and a PNG timeline per video: each track's seven probabilities over time.
"""

import csv
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .errors import UserError
from .outputs import write_text
from .recognizer import EmotionRecognizer
from .tracking import FaceTracker
from .video import (IMAGE_SUFFIXES, VIDEO_SUFFIXES, FaceLog, SourceError, VideoSink, capture_fps, draw_faces, unreadable_image,
                    unreadable_video, write_image)


logger = logging.getLogger(__name__)


def find_inputs(paths: Sequence[str]) -> Tuple[List[Path], List[Path]]:
    """(photos, videos) named by `paths`: files, or folders searched recursively, in sorted order."""
    photos, videos = [], []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            photos += [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
            videos += [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
        elif path.is_file():
            (photos if path.suffix.lower() in IMAGE_SUFFIXES else videos).append(path)
        else:
            raise UserError(f"'{name}' does not exist; pass photos, videos or folders of them.")
    if not photos and not videos:
        raise UserError(f"No photos ({', '.join(sorted(IMAGE_SUFFIXES))}) or videos ({', '.join(sorted(VIDEO_SUFFIXES))}) "
                        f"in {', '.join(paths)}.")  # fmt: skip
    return photos, videos


def display_name(path: Path, roots: Sequence[str]) -> str:
    """The file name as the user would recognise it: relative to the folder they named, else as given."""
    for root in roots:
        if Path(root).is_dir():
            try:
                return str(path.relative_to(root))
            except ValueError:
                continue
    return str(path)


@dataclass
class TrackSummary:
    file: str
    track_id: int
    first_s: float
    last_s: float
    frames: int
    dominant: str
    shares: Dict[str, float]  # share of the track's frames on which each emotion was on top
    mean: Dict[str, float]  # mean probability of each emotion over the track


@dataclass
class VideoResult:
    file: str
    frames: int = 0
    fps: float = 0.0
    faces: int = 0
    times: Dict[int, list] = field(default_factory=dict)  # track id → frame times (s)
    probs: Dict[int, list] = field(default_factory=dict)  # track id → per-frame probabilities

    def summaries(self, labels: Sequence[str]) -> List[TrackSummary]:
        out = []
        for track_id in sorted(self.probs):
            probs = np.asarray(self.probs[track_id])
            top = np.bincount(probs.argmax(axis=1), minlength=len(labels)) / len(probs)
            mean = probs.mean(axis=0)
            out.append(TrackSummary(self.file, track_id, self.times[track_id][0], self.times[track_id][-1], len(probs),
                                    labels[int(mean.argmax())], dict(zip(labels, top.round(4).tolist())),
                                    dict(zip(labels, mean.round(4).tolist()))))  # fmt: skip
        return out


class BatchAnalyzer:
    """Runs a recognizer over photos and videos and writes what was asked: rows (`FaceLog`), annotated copies,
    track summaries and timelines."""

    def __init__(self, recognizer: EmotionRecognizer, log: Optional[FaceLog] = None, annotated_dir: Optional[Path] = None,
                 show_probs: bool = False, progress: bool = True):  # fmt: skip
        self.recognizer, self.log, self.annotated_dir = recognizer, log, annotated_dir
        self.show_probs, self.progress = show_probs, progress
        self.labels = recognizer.classifier.labels

    def photos(self, paths: Sequence[Path], names: Sequence[str], strict: bool = False, annotated_file: Optional[str] = None) -> dict:
        """Analyse photos; returns counts `{"photos", "faces", "no_face", "unreadable"}`.

        `strict`: an unreadable photo is an error (it was named on its own), not a warning. `annotated_file`: where
        the one photo's annotated copy goes, instead of a copy under `annotated_dir`.
        """
        from tqdm.auto import tqdm

        counts = {"photos": 0, "faces": 0, "no_face": 0, "unreadable": 0}
        for path, name in tqdm(list(zip(paths, names)), desc="Photos", unit="photo", disable=not self.progress or len(paths) < 2):
            image = cv2.imread(str(path))
            if image is None:
                if strict:
                    raise SourceError(unreadable_image(name))
                logger.warning("Skipping %s: not an image OpenCV reads (corrupt or another format).", name)
                counts["unreadable"] += 1
                if self.log:
                    self.log.note({"file": name}, FaceLog.UNREADABLE)
                continue
            faces = self.recognizer.predict(image, still=True)
            counts["photos"] += 1
            counts["faces"] += len(faces)
            counts["no_face"] += not faces
            if self.log:
                self.log.write({"file": name}, faces, note_if_empty=True)
            if self.annotated_dir is not None or annotated_file:
                target = Path(annotated_file) if annotated_file else self.annotated_dir / name
                target.parent.mkdir(parents=True, exist_ok=True)
                write_image(str(target), draw_faces(image, faces, self.show_probs))
        return counts

    def videos(self, paths: Sequence[Path], names: Sequence[str], counts: dict, strict: bool = False) -> Iterator[VideoResult]:
        """Analyse videos one after another, yielding each readable one's result; adds to `counts` (`"videos"`,
        `"faces"`, `"unreadable"`).

        `strict`: an unreadable video is an error (it was named on its own); otherwise it is skipped with a warning
        and an `unreadable file` row, like an unreadable photo.
        """
        for path, name in zip(paths, names):
            try:
                result = self.video(path, name)
            except SourceError as error:
                if strict:
                    raise
                logger.warning("Skipping %s", error)
                counts["unreadable"] += 1
                if self.log:
                    self.log.note({"file": name}, FaceLog.UNREADABLE)
                continue
            counts["videos"] += 1
            counts["faces"] += result.faces
            yield result

    def video(self, path: Path, name: str) -> VideoResult:
        """Analyse one video, frame by frame, with a progress bar over its frames."""
        from tqdm.auto import tqdm

        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            raise SourceError(unreadable_video(name))
        fps = capture_fps(capture)
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        result, tracker = VideoResult(name, fps=fps), FaceTracker(smoothing=0.0)
        sink = None
        if self.annotated_dir is not None:
            target = self.annotated_dir / Path(name).with_suffix(".mp4")
            sink = VideoSink(str(target), fps)
        bar = tqdm(total=total, desc=name[-40:], unit="frame", disable=not self.progress)
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                time_s = result.frames / fps
                detections, probs = self.recognizer.detect_and_classify(frame)
                tracks = tracker.update(detections.boxes, probs)
                faces = self.recognizer.faces(detections, probs, [track.track_id for track in tracks])
                for face, p in zip(faces, probs):
                    result.times.setdefault(face.track_id, []).append(time_s)
                    result.probs.setdefault(face.track_id, []).append(p)
                if self.log:
                    self.log.write({"file": name, "frame": result.frames, "time_s": round(time_s, 3)}, faces)
                if sink:
                    sink.write(draw_faces(frame, faces, self.show_probs))
                result.frames += 1
                result.faces += len(faces)
                bar.update(1)
        finally:
            bar.close()
            capture.release()
            if sink:
                sink.close()
        if result.frames == 0:
            raise SourceError(f"Video {name} delivered no frame (empty or corrupt).")
        return result


def write_track_summaries(path: Path, summaries: Sequence[TrackSummary], labels: Sequence[str]) -> None:
    """One CSV row per track: file, track, first/last second, frames, dominant emotion, share of each emotion."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", "track_id", "first_s", "last_s", "frames", "dominant", *[f"share_{n}" for n in labels]])
    for s in summaries:
        writer.writerow([s.file, s.track_id, f"{s.first_s:.3f}", f"{s.last_s:.3f}", s.frames, s.dominant,
                         *[f"{s.shares[n]:.4f}" for n in labels]])  # fmt: skip
    write_text(path, buffer.getvalue())


def plot_timeline(path: Path, result: VideoResult, labels: Sequence[str], max_tracks: int = 8) -> None:
    """A PNG per video: one panel per track (the longest `max_tracks`), its seven probabilities over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .outputs import atomic_file
    from .video import COLOURS

    tracks = sorted(result.probs, key=lambda t: -len(result.probs[t]))[:max_tracks]
    tracks = sorted(tracks) or [None]
    fig, axes = plt.subplots(len(tracks), 1, figsize=(10, 2.2 * len(tracks) + 0.6), sharex=True, squeeze=False)
    for ax, track_id in zip(axes[:, 0], tracks):
        if track_id is None:
            ax.text(0.5, 0.5, "no face found", ha="center", va="center", transform=ax.transAxes)
            continue
        times, probs = np.asarray(result.times[track_id]), np.asarray(result.probs[track_id])
        for k, name in enumerate(labels):
            b, g, r = COLOURS.get(name, (0, 0, 0))
            ax.plot(times, probs[:, k], label=name, color=(r / 255, g / 255, b / 255), linewidth=1.4)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"face #{track_id}")
        ax.grid(alpha=0.3)
    axes[0, 0].set_title(f"{result.file}: emotion probabilities per tracked face")
    if tracks != [None]:
        axes[0, 0].legend(ncol=7, fontsize=7, loc="upper right", frameon=False)
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
