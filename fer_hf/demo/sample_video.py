"""Test and benchmark footage made from a real face photo shipped with scikit-image (no download, no webcam).

The astronaut photo (`skimage.data.astronaut()`, public domain, NASA) provides the face; frames move and scale it
across a 640x480 background, with mirrored copies as further faces, and the true boxes are returned.
"""

from pathlib import Path
from typing import List

import cv2
import numpy as np


def face_photo() -> np.ndarray:
    """The head-and-shoulders crop (BGR) of scikit-image's astronaut photo."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[30:200, 150:300]


def make_face_frames(num_frames: int = 48, num_faces: int = 2, size=(640, 480), seed: int = 0, cover_last: bool = False):
    """Frames with `num_faces` (1-3) faces drifting and zooming, and the pasted photo boxes per frame.

    `cover_last`: a skin-toned "hand" covers the lower half of the last face's face (from chin to nose), as in the
    detector comparison that made YuNet the default.
    """
    if not 1 <= num_faces <= 3:
        raise ValueError("num_faces must be 1, 2 or 3.")
    rng = np.random.default_rng(seed)
    photo = face_photo()
    width, height = size
    lane = width // num_faces
    base_scale = {1: 1.6, 2: 1.4, 3: 1.15}[num_faces]
    background = np.tile(np.linspace(60, 140, width, dtype=np.float32), (height, 1))
    background = np.clip(background + rng.normal(0, 6, background.shape), 0, 255).astype(np.uint8)
    background = cv2.cvtColor(background, cv2.COLOR_GRAY2BGR)
    frames, boxes = [], []
    for t in range(num_frames):
        frame, frame_boxes = background.copy(), []
        phase = t / max(1, num_frames - 1)
        for k in range(num_faces):
            scale = base_scale * (0.9 + 0.15 * np.sin(2 * np.pi * phase + k))
            face = cv2.resize(photo if k % 2 == 0 else photo[:, ::-1], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            fh, fw = face.shape[:2]
            x = int(k * lane + (lane - fw) * (0.2 + 0.6 * phase if k % 2 == 0 else 0.8 - 0.6 * phase))
            y = int((height - fh) * (0.3 + 0.4 * np.sin(np.pi * phase + k) ** 2))
            frame[y : y + fh, x : x + fw] = face
            if cover_last and k == num_faces - 1:
                centre = (x + fw // 2, y + int(fh * 0.62))
                cv2.ellipse(frame, centre, (int(fw * 0.34), int(fh * 0.16)), 0, 0, 360, (120, 150, 200), -1)
            frame_boxes.append((x, y, fw, fh))
        frames.append(frame)
        boxes.append(frame_boxes)
    return frames, boxes


def write_face_video(path: str, num_frames: int = 48, num_faces: int = 2, fps: float = 15.0, seed: int = 0,
                     cover_last: bool = False) -> List[list]:  # fmt: skip
    """Write `make_face_frames` to a video file; returns the true photo boxes per frame."""
    from ..video import video_writer

    frames, boxes = make_face_frames(num_frames, num_faces, seed=seed, cover_last=cover_last)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    writer = video_writer(path, fps, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return boxes


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Write a test video of moving real faces.")
    parser.add_argument("--output", required=True, help="Video path (.mp4 or .avi).")
    parser.add_argument("--frames", type=int, default=48, help="Number of frames.")
    parser.add_argument("--faces", type=int, default=2, help="Faces per frame (1-3).")
    parser.add_argument("--cover_last", action="store_true", help="Cover the lower half of the last face with a hand-like patch.")
    args = parser.parse_args()
    write_face_video(args.output, args.frames, args.faces, cover_last=args.cover_last)
    print(f"Wrote {args.frames} frames with {args.faces} faces to {args.output}")
