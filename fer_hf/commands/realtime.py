#!/usr/bin/env python
"""Label every face in a webcam, video, image or folder of images with its emotion and confidence.

    python realtime.py                                          # webcam 0, default model (see --model), window
    python realtime.py --source clip.mp4 --no-display --output out.mp4 --log faces.jsonl
    python realtime.py --source photo.jpg --output labelled.jpg --no-display
    python realtime.py --benchmark                              # FPS and per-stage latency, 1 and 3 faces

In the window, q or Esc quits. At the end a summary prints frames, faces, mean FPS, p50/p95 latency per stage and
the dominant emotion of each tracked face.
"""

import argparse
import logging
import os
import signal
import sys
import tempfile

import torch

from fer_hf.cli import run
from fer_hf.errors import UserError
from fer_hf.inference import TTA_MODES
from fer_hf.realtime import (
    DEFAULT_TTA,
    EmotionRecognizer,
    FaceTracker,
    check_outputs,
    display_available,
    open_source,
    run_stream,
    source_fps,
)


def parse_args(args=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--source", default="0", help="Webcam index, video file, image file or folder of images.")
    parser.add_argument("--model", default=None, help="ONNX folder from export.py or a train.py checkpoint (default: models/fer2013-cpu-small/onnx-int8 if present, else the demo model).")
    parser.add_argument("--detector", default="haar", choices=["haar", "yunet"], help="Face detector.")
    parser.add_argument("--yunet_model", default=None, help="Path of YuNet's face_detection_yunet_*.onnx (with --detector yunet).")
    parser.add_argument("--detect_width", type=int, default=320, help="Haar: detect on a frame scaled to this width (0: full size).")
    parser.add_argument("--min_face", type=int, default=60, help="Haar: smallest face side in frame pixels.")
    parser.add_argument("--margin", type=float, default=0.1, help="Crop margin around each face, as a fraction of its size.")
    parser.add_argument("--tta", default=DEFAULT_TTA, choices=TTA_MODES, help="hflip: average each face with its mirror (2x inference; shipped model +0.5 points on PublicTest); none: one view.")
    parser.add_argument("--smoothing", type=float, default=0.6, help="EMA weight of past probabilities per tracked face.")
    parser.add_argument("--no-smoothing", dest="no_smoothing", action="store_true", help="Turn temporal smoothing off.")
    parser.add_argument("--max_missed", type=int, default=5, help="Frames a face may be missed before its track is dropped.")
    parser.add_argument("--probs", action="store_true", help="Draw the seven probability bars under each face.")
    parser.add_argument("--no-display", dest="no_display", action="store_true", help="Run without a window.")
    parser.add_argument("--display", action="store_true", help="Insist on a window (an error where there is no display); by default a window opens where a display is available.")
    parser.add_argument("--output", default=None, help="Write the annotated video (.mp4/.avi) or image (.jpg/.png).")
    parser.add_argument("--log", default=None, help="Write one record per face per frame (.jsonl or .csv).")
    parser.add_argument("--max_frames", type=int, default=None, help="Stop after this many frames.")
    parser.add_argument("--benchmark", action="store_true", help="Measure FPS and stage latency on generated 640x480 videos.")
    return parser.parse_args(args)


def benchmark(args) -> None:
    """End-to-end FPS and per-stage latency on fixed generated videos with 1 and 3 faces."""
    from fer_hf.demo.sample_video import write_face_video

    recognizer = EmotionRecognizer.from_pretrained(args.model, args.detector, args.yunet_model, args.margin, args.tta,
                                                   detect_width=args.detect_width, min_size=args.min_face)  # fmt: skip
    model_dir = os.path.relpath(recognizer.classifier.model_dir)  # as the user would type it, from here
    print(f"model: {model_dir} ({recognizer.classifier.kind}), detector: {args.detector}, 640x480")
    print(f"{'faces':>5} {'FPS':>7} {'detect':>8} {'preproc':>8} {'infer':>8} {'draw':>8} {'total':>8}   (p50 ms per frame)")
    with tempfile.TemporaryDirectory() as tmp:
        for faces in (1, 3):
            path = os.path.join(tmp, f"faces{faces}.avi")
            write_face_video(path, num_frames=90, num_faces=faces)
            summary = run_stream(recognizer, open_source(path), FaceTracker())
            p = {stage: p50 for stage, (p50, _) in summary.percentiles().items()}
            print(f"{faces:>5} {1000 / p['total']:>7.1f} {p['detect']:>8.2f} {p['preprocess']:>8.2f} {p['infer']:>8.2f} "
                  f"{p['draw']:>8.2f} {p['total']:>8.2f}")  # fmt: skip
    options = (f" --model {args.model}" if args.model else "") + (f" --tta {args.tta}" if args.tta != DEFAULT_TTA else "")
    print("command: python realtime.py --benchmark" + options)


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM (timeout, docker stop, systemd) ends the run as Ctrl-C does: outputs closed


def main(args=None):
    args = parse_args(args)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    signal.signal(signal.SIGTERM, _interrupt)
    if args.benchmark:
        return benchmark(args)
    check_outputs(args.output, args.log)
    display = False if args.no_display else (True if args.display else None)
    if display is None:
        display = display_available()
        if not display:
            print("note: no display here, running headless (--output and --log keep the results; --no-display hides this note)",
                  file=sys.stderr)  # fmt: skip
    elif display and not display_available():
        raise UserError("--display: there is no display here (no DISPLAY or WAYLAND_DISPLAY); run with --no-display.")
    # 1. Model and detector (--model, else the shipped model, else the demo model).
    recognizer = EmotionRecognizer.from_pretrained(args.model, args.detector, args.yunet_model, args.margin, args.tta,
                                                   detect_width=args.detect_width, min_size=args.min_face)  # fmt: skip
    tracker = FaceTracker(0.0 if args.no_smoothing else args.smoothing, max_missed=args.max_missed)
    # 2. Source, then the loop: detect → one batched classification → track and smooth → draw → write.
    frames = open_source(args.source)
    if recognizer.classifier.kind == "onnx":
        # torch only resizes and normalises the crops here; its intra-op threads would spin beside ONNX Runtime's.
        torch.set_num_threads(1)
    summary = run_stream(recognizer, frames, tracker, args.output, args.log, display=display,
                         show_probs=args.probs, fps=source_fps(args.source), max_frames=args.max_frames)  # fmt: skip
    # 3. Summary.
    print(summary.format())
    for name, path in (("annotated output", args.output), ("log", args.log)):
        if path:
            print(f"{name}: {path}")
    return summary


if __name__ == "__main__":
    run(main)
