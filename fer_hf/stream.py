"""The stream loop: every frame of a webcam, video or folder → detect, classify, track, draw, write, show.

`run_stream` keeps its outputs valid however it ends (end of stream, q/Esc, Ctrl-C, SIGTERM, an error) and returns
a `StreamSummary` with per-stage latency percentiles and each track's dominant emotion.
"""

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Optional

import cv2
import numpy as np

from .cli import counted
from .recognizer import EmotionRecognizer
from .tracking import FaceTracker
from .video import FaceLog, SourceError, VideoSink, draw_faces, draw_overlay


@dataclass
class StreamSummary:
    frames: int = 0
    faces: int = 0
    seconds: float = 0.0
    stage_ms: dict = field(default_factory=dict)  # stage -> list of per-frame milliseconds
    tracks: list = field(default_factory=list)  # (track_id, frames, dominant label)
    infer_calls: int = 0
    dropped: int = 0  # camera frames the loop had no time for (`LatestFrames`)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def percentiles(self) -> dict:
        return {stage: (float(np.percentile(v, 50)), float(np.percentile(v, 95))) for stage, v in self.stage_ms.items() if v}

    def format(self) -> str:
        counts = f"{counted(self.frames, 'frame')}, {counted(self.faces, 'face')}"
        lines = [f"{counts}, mean {self.fps:.1f} FPS ({counted(self.infer_calls, 'inference call')}"
                 + (f", {counted(self.dropped, 'camera frame')} skipped: the loop is slower than the camera)" if self.dropped else ")"),
                 f"{'stage':<11} {'p50 ms':>8} {'p95 ms':>8}"]  # fmt: skip
        lines += [f"{stage:<11} {p50:>8.2f} {p95:>8.2f}" for stage, (p50, p95) in self.percentiles().items()]
        if self.tracks:
            lines.append("tracks: " + ", ".join(f"#{tid} {label} ({counted(n, 'frame')})" for tid, n, label in self.tracks))
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
    frame_log = FaceLog(log, recognizer.classifier.labels) if log else None
    shown_fps, start = 0.0, time.perf_counter()
    try:
        for index, frame in enumerate(frames):
            if max_frames is not None and index >= max_frames:
                break
            t0 = time.perf_counter()
            detections, faces = recognizer.track(frame, tracker)
            summary.infer_calls += int(len(detections) > 0)
            t_draw = time.perf_counter()
            draw_faces(frame, faces, show_probs)
            draw_overlay(frame, shown_fps, recognizer.timings)
            timings = {**recognizer.timings, "draw": time.perf_counter() - t_draw}
            if sink:
                sink.write(frame)
            if frame_log:
                frame_log.write({"frame": index, "time_s": round(t0 - start, 4)}, faces)
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
        if hasattr(frames, "close"):  # stop a camera's reading thread, release the capture
            frames.close()
        summary.dropped = getattr(frames, "dropped", 0)
        if sink:
            sink.close()
        if frame_log:
            frame_log.close(keep=summary.frames > 0)  # a source that delivered nothing leaves no empty log
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
