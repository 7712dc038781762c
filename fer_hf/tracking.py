"""Tracking faces across frames: greedy IoU matching, and per-track smoothing of the probabilities.

`FaceTracker` matches faces across frames by IoU and smooths each track's probabilities with an exponential
moving average, so a steady face does not flicker; a track unseen for `max_missed` frames is dropped.
"""

from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from .errors import UserError


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
