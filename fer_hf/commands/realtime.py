"""Label every face in a webcam or video, live, with its emotion and confidence.

    fer-hf realtime                                              # webcam 0, the shipped model, a window
    fer-hf realtime --source clip.mp4 --output out.mp4 --log faces.csv
    fer-hf realtime --benchmark                                  # FPS and per-stage latency, 1 and 3 faces

(`python realtime.py ...` is the same.) In the window, q or Esc quits. At the end a summary prints frames, faces,
mean FPS, p50/p95 latency per stage and the dominant emotion of each tracked face. An image or a folder of images
as `--source` is analysed as independent photos (as `fer-hf analyze` does); without a display the run is headless.
"""

import argparse
import logging
import signal
import sys
from pathlib import Path

from ..detection import DETECTORS, VIDEO_DETECT_WIDTH
from ..errors import UserError
from ..inference import TTA_MODES
from ..recognizer import DEFAULT_TTA, EmotionRecognizer, relative
from ..stream import display_available, run_stream
from ..tracking import FaceTracker
from ..video import IMAGE_SUFFIXES, check_outputs, open_source, source_fps


MODEL_FLAGS = ("model", "subfolder", "detector", "yunet_model", "margin", "tta", "align", "probs")


def add_model_arguments(parser: argparse.ArgumentParser, drawing: bool = True) -> None:
    """The model and detector flags (`MODEL_FLAGS`) that `realtime`, `analyze` and `demo` share; `--probs` only
    where faces are drawn on a video or photo (`drawing`)."""
    parser.add_argument("--model", default=None, help="Model: a folder from export.py (ONNX) or train.py, or a Hub id (default: the shipped laptop model, int8).")
    parser.add_argument("--subfolder", default=None, help="Sub-folder of --model to load, e.g. onnx-int8 of a Hub repo.")
    parser.add_argument("--detector", default="auto", choices=DETECTORS, help="Face detector; auto: YuNet when its model is cached or downloadable, else Haar with a note.")
    parser.add_argument("--yunet_model", default=None, help="A local face_detection_yunet_*.onnx instead of the Hub's.")
    parser.add_argument("--margin", type=float, default=0.1, help="Crop margin around each face, as a fraction of its size.")
    parser.add_argument("--tta", default=DEFAULT_TTA, choices=TTA_MODES, help="hflip+zoom: average each face with its mirror and a 10%% tighter view of both (one call; shipped int8 model 66.4%% on PublicTest); hflip: with its mirror (65.4%%); none: one view (64.5%%).")
    parser.add_argument("--align", action="store_true", help="Rotate each face so its eyes are level (YuNet landmarks) before classifying.")
    if drawing:
        parser.add_argument("--probs", action="store_true", help="Draw the seven probability bars under each face.")


def load_recognizer(args, detect_width: int = VIDEO_DETECT_WIDTH, min_size: int = 60) -> EmotionRecognizer:
    return EmotionRecognizer.from_pretrained(args.model, args.detector, args.yunet_model, args.margin, args.tta,
                                             args.subfolder, args.align, detect_width, min_size)  # fmt: skip


def parse_args(args=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fer-hf realtime", description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--source", default="0", help="Webcam index, video file (or an image / a folder of images).")
    add_model_arguments(parser)
    parser.add_argument("--detect_width", type=int, default=VIDEO_DETECT_WIDTH, help="Detect on a copy of the frame scaled to this width (0: full size).")
    parser.add_argument("--min_face", type=int, default=60, help="Haar: smallest face side in frame pixels.")
    parser.add_argument("--smoothing", type=float, default=0.6, help="EMA weight of past probabilities per tracked face.")
    parser.add_argument("--no-smoothing", dest="no_smoothing", action="store_true", help="Turn temporal smoothing off.")
    parser.add_argument("--max_missed", type=int, default=5, help="Frames a face may be missed before its track is dropped.")
    parser.add_argument("--no-display", dest="no_display", action="store_true", help="Run without a window.")
    parser.add_argument("--display", action="store_true", help="Insist on a window (an error where there is no display); by default a window opens where a display is available.")
    parser.add_argument("--output", default=None, help="Write the annotated video (.mp4/.avi); for photos, an image or a folder.")
    parser.add_argument("--log", default=None, help="Write one row per face per frame (.csv or .jsonl).")
    parser.add_argument("--max_frames", type=int, default=None, help="Stop after this many frames.")
    parser.add_argument("--benchmark", action="store_true", help="Measure FPS and stage latency on generated 640x480 videos of real faces, beside a bare loop.")
    return parser.parse_args(args)


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM (timeout, docker stop, systemd) ends the run as Ctrl-C does: outputs closed


def is_photo_source(source: str) -> bool:
    path = Path(source)
    return path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES


def main(args=None):
    args = parse_args(args)
    logging.basicConfig(format="%(message)s", level=logging.WARNING)
    signal.signal(signal.SIGTERM, _interrupt)
    if args.benchmark:
        from ..benchmark import realtime_benchmark

        return realtime_benchmark(args)
    if is_photo_source(args.source):  # photos are independent: no tracking, smoothing or FPS overlay
        from . import analyze

        photo_args = analyze.parse_args([args.source])
        vars(photo_args).update({flag: getattr(args, flag) for flag in MODEL_FLAGS}, output=args.log, annotated=args.output)
        return analyze.run(photo_args)
    check_outputs(args.output, args.log)
    display = False if args.no_display else (True if args.display else None)
    if display is None:
        display = display_available()
        if not display:
            print("note: no display here, running headless (--output and --log keep the results; --no-display hides this note)",
                  file=sys.stderr)  # fmt: skip
    elif display and not display_available():
        raise UserError("--display: there is no display here (no DISPLAY or WAYLAND_DISPLAY); run with --no-display.")
    # 1. The source is opened first, so a missing camera or a bad video is the answer before any model loads (a
    #    camera's reading thread starts with the loop, so the loading time drops no frames).
    frames = open_source(args.source)
    # 2. Model and detector.
    try:
        recognizer = load_recognizer(args, args.detect_width, args.min_face)
    except BaseException:
        if hasattr(frames, "close"):  # a camera is released now; an unread video's capture goes with its generator
            frames.close()
        raise
    if "torch" in sys.modules and recognizer.classifier.kind == "onnx":
        sys.modules["torch"].set_num_threads(1)  # torch's intra-op threads must not spin beside ONNX Runtime's
    tracker = FaceTracker(0.0 if args.no_smoothing else args.smoothing, max_missed=args.max_missed)
    # 3. The loop: detect → one batched classification → track and smooth → draw → write.
    summary = run_stream(recognizer, frames, tracker, args.output, args.log, display=display,
                         show_probs=args.probs, fps=source_fps(args.source), max_frames=args.max_frames)  # fmt: skip
    # 4. Summary.
    print(f"model: {relative(recognizer.classifier.model_dir)}, detector: {recognizer.detector.name}")
    print(summary.format())
    for name, path in (("annotated output", args.output), ("log", args.log)):
        if path:
            print(f"{name}: {path}")
    return summary
