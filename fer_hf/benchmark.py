"""`fer-hf realtime --benchmark`: the realtime pipeline against a bare loop, on 640x480 video of real face photos.

The bare loop is the least a realtime emotion recogniser must do per frame, written inline with no tracking,
drawing or bookkeeping: decode the frame, run the same detector on the same downscaled copy, crop and resize the
faces, one ONNX Runtime call for the faces and their test-time views. The pipeline's FPS as a ratio of it says how much the
project's own code costs. Each video is played once to warm up, then timed. Videos: 90 frames of the astronaut photo
(scikit-image) moving and zooming, 1 face, and 3 faces with the third half covered by a hand-like patch.
"""

import os
import resource
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

from .detection import YuNetFaceDetector
from .inference import DEFAULT_TTA, tta_views
from .recognizer import relative
from .stream import run_stream
from .tracking import FaceTracker
from .video import open_source


def bare_loop(path: str, recognizer) -> tuple:
    """(FPS, faces found per frame) of the inline loop on a video, with the recognizer's detector and model."""
    detector, classifier = recognizer.detector, recognizer.classifier
    config = classifier.processor
    scale_mean = np.float32(config.rescale_factor / config.std[0]), np.float32(config.mean[0] / config.std[0])
    yunet = isinstance(detector, YuNetFaceDetector)
    capture = cv2.VideoCapture(path)
    frames = faces_found = 0
    start = time.perf_counter()
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        width = detector.detect_width or frame.shape[1]
        small = cv2.resize(frame, (width, frame.shape[0] * width // frame.shape[1]), interpolation=cv2.INTER_AREA)
        scale = frame.shape[1] / width
        if yunet:
            detector.detector.setInputSize((small.shape[1], small.shape[0]))
            found = detector.detector.detect(small)[1]
            boxes = np.zeros((0, 4)) if found is None else found[:, :4] * scale
        else:
            boxes = detector.cascade.detectMultiScale(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), 1.2, 5, minSize=(20, 20))
            boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4) * scale
        frames += 1
        if not len(boxes):
            continue
        faces_found += len(boxes)
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        crops = []
        for x, y, w, h in boxes.astype(int):
            crop = gray[max(0, y) : y + h, max(0, x) : x + w]
            crops.append(cv2.resize(crop, (config.width, config.height), interpolation=cv2.INTER_AREA))
        pixels = np.stack(crops).astype(np.float32)[:, None] * scale_mean[0] - scale_mean[1]
        pixels = np.repeat(pixels, 3, axis=1)
        classifier.logits(tta_views(pixels, recognizer.tta))
    seconds = time.perf_counter() - start
    capture.release()
    return frames / seconds, faces_found / max(frames, 1)


def realtime_benchmark(args) -> list:
    """Print the table; returns its rows."""
    from .cli import machine_description
    from .commands.realtime import load_recognizer

    recognizer = load_recognizer(args, args.detect_width, args.min_face)
    print(f"machine: {machine_description(with_torch=recognizer.classifier.kind != 'onnx')}")
    print(f"model: {relative(recognizer.classifier.model_dir)} ({recognizer.classifier.kind}), detector: "
          f"{recognizer.detector.name} on a {recognizer.detector.detect_width}-px copy, tta: {recognizer.tta}, 640x480")  # fmt: skip
    print(f"{'faces':>5} {'found':>6} {'FPS':>7} {'bare FPS':>9} {'ratio':>6} {'detect':>7} {'preproc':>8} {'infer':>7} "
          f"{'draw':>6} {'total':>7}   (stages: p50 ms per frame)")  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for faces in (1, 3):
            path = os.path.join(tmp, f"faces{faces}.avi")
            # Written by a child process: scikit-image (the photo) stays out of this one's memory.
            subprocess.run([sys.executable, "-m", "fer_hf.demo.sample_video", "--output", path, "--frames", "90",
                            "--faces", str(faces)] + ["--cover_last"] * (faces == 3), check=True, capture_output=True)  # fmt: skip
            run_stream(recognizer, open_source(path), FaceTracker())  # warm-up
            summary = run_stream(recognizer, open_source(path), FaceTracker())
            bare_loop(path, recognizer)  # warm-up
            bare_fps, _ = bare_loop(path, recognizer)
            p = {stage: p50 for stage, (p50, _) in summary.percentiles().items()}
            found = summary.faces / max(summary.frames, 1)
            rows.append({"faces": faces, "found_per_frame": found, "fps": summary.fps, "bare_fps": bare_fps, **p})
            print(f"{faces:>5} {found:>6.2f} {summary.fps:>7.1f} {bare_fps:>9.1f} {summary.fps / bare_fps:>6.2f} {p['detect']:>7.2f} "
                  f"{p['preprocess']:>8.2f} {p['infer']:>7.2f} {p['draw']:>6.2f} {p['total']:>7.2f}")  # fmt: skip
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 1024 * 1024)
    imported = sorted(name for name in ("torch", "transformers", "optimum") if name in sys.modules)
    print(f"peak memory (RSS) of this process: {peak_mb:.0f} MB; torch/transformers/optimum imported: {', '.join(imported) or 'none'}")
    options = "".join(f" --{flag} {getattr(args, flag)}" for flag in ("model", "detector", "tta") if getattr(args, flag) not in (None, "auto", DEFAULT_TTA))
    print("command: fer-hf realtime --benchmark" + options + "   (= python realtime.py --benchmark" + options + ")")
    return rows
