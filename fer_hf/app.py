"""The web demo: a Gradio app that labels every face of an uploaded photo, a webcam snapshot, or the live webcam.

    fer-hf demo                      # http://127.0.0.1:7860 (needs the demo extra: pip install "fer-hf[demo]")
    fer-hf demo --share              # a public gradio.live link for 72 hours
    python app.py                    # the same; a Hugging Face Space (SDK gradio) runs app.py as it is

The Photo tab shows the photo with boxes and labels, a one-line result, the seven probability bars of the largest face,
every face as JSON, and the JSON as a file to download. The Live webcam tab streams the browser's camera to the server
(five frames a second) and shows each frame labelled, faces followed and their probabilities smoothed from frame to
frame as `realtime.py` does. Both run the same `EmotionRecognizer` as `fer-hf analyze`.
"""

import argparse
import json
import os
import tempfile
from typing import Optional

import cv2
import numpy as np

from .recognizer import EmotionRecognizer


TITLE = "fer-hf: facial emotion recognition"
DESCRIPTION = ("Upload a photo, take one with your webcam, or stream the webcam live: every face is found, boxed and "
               "labelled with one of FER2013's seven emotions (Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral) by "
               "a small vision transformer (TinyViT, int8 ONNX) that runs on a laptop CPU.")  # fmt: skip


def analyze_photo(recognizer: EmotionRecognizer, image: Optional[np.ndarray]):
    """RGB photo → (annotated RGB photo, result line, largest face's probabilities, faces as JSON, JSON file)."""
    from .video import draw_faces

    if image is None:
        return None, "Upload a photo or take one with the webcam.", None, [], None
    bgr = to_bgr(image)
    faces = recognizer.predict(bgr, still=True)
    annotated = cv2.cvtColor(draw_faces(bgr.copy(), faces), cv2.COLOR_BGR2RGB)
    records = [face.to_dict() for face in faces]
    summary = describe(faces)
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="faces-", delete=False) as f:
        json.dump(records, f, indent=2)
    return annotated, summary, (faces[0].probs if faces else None), records, f.name


def to_bgr(image: np.ndarray) -> np.ndarray:
    """Gradio's RGB (or grayscale) image as the BGR that OpenCV and the recognizer take."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.ndim == 3 else cv2.COLOR_GRAY2BGR)


def describe(faces) -> str:
    """The one-line result: `1 face: Happy 93%`, or `No face found.`"""
    if not faces:
        return "No face found."
    return f"{len(faces)} face{'s' * (len(faces) > 1)}: " + ", ".join(f"{f.label} {100 * f.confidence:.0f}%" for f in faces)


def analyze_frame(recognizer: EmotionRecognizer, frame: Optional[np.ndarray], tracker=None):
    """One RGB frame of the live webcam → (annotated RGB frame, result line, tracker).

    Faces are followed from frame to frame and their probabilities smoothed by a `FaceTracker` kept per browser
    session (the caller passes back the one it got), as `realtime.py` does, so labels do not flicker.
    """
    from .tracking import FaceTracker
    from .video import draw_faces

    if frame is None:
        return None, "Start the webcam.", tracker
    tracker = tracker or FaceTracker()
    bgr = to_bgr(frame)
    _, faces = recognizer.track(bgr, tracker)
    return cv2.cvtColor(draw_faces(bgr, faces), cv2.COLOR_BGR2RGB), describe(faces), tracker


def build_demo(recognizer: Optional[EmotionRecognizer] = None, **options):
    """The Gradio Blocks app (not launched) around `recognizer`, or `EmotionRecognizer.from_pretrained(**options)`."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    recognizer = recognizer or EmotionRecognizer.from_pretrained(**options)
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\n{DESCRIPTION}")
        with gr.Tab("Photo"):
            with gr.Row():
                photo = gr.Image(sources=["upload", "webcam"], type="numpy", label="Photo", elem_id="photo")
                annotated = gr.Image(label="Faces", elem_id="annotated", interactive=False)
            result = gr.Textbox(label="Result", elem_id="result", interactive=False)
            with gr.Row():
                bars = gr.Label(num_top_classes=7, label="Largest face: the seven emotions", elem_id="bars")
                faces = gr.JSON(label="All faces (box, label, confidence, emotions, landmarks)", elem_id="faces")
            download = gr.File(label="Download the JSON", elem_id="download")
        with gr.Tab("Live webcam"):
            with gr.Row():
                webcam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Webcam", elem_id="webcam")
                live = gr.Image(label="Faces", elem_id="live", interactive=False)
            live_result = gr.Textbox(label="Result", elem_id="live_result", interactive=False)
            tracker = gr.State(None)  # one FaceTracker per browser session
        gr.Markdown(f"Model: `{os.path.basename(os.path.dirname(recognizer.classifier.model_dir))}/"
                    f"{os.path.basename(recognizer.classifier.model_dir)}`, detector: {recognizer.detector.name}, "
                    "test-time augmentation: " + recognizer.tta)  # fmt: skip
        photo.change(lambda image: analyze_photo(recognizer, image), inputs=photo, outputs=[annotated, result, bars, faces, download])
        # Five frames a second; a session streams for at most ten minutes so that one visitor cannot hold a shared Space.
        webcam.stream(lambda frame, state: analyze_frame(recognizer, frame, state), inputs=[webcam, tracker],
                      outputs=[live, live_result, tracker], stream_every=0.2, time_limit=600, concurrency_limit=4)
    return demo


def main(args=None):
    from .commands.realtime import add_model_arguments, load_recognizer

    parser = argparse.ArgumentParser(prog="fer-hf demo", description="The web demo (Gradio).")
    add_model_arguments(parser, drawing=False)
    parser.add_argument("--host", default="127.0.0.1", help="Address to serve on (0.0.0.0: the whole network).")
    parser.add_argument("--port", type=int, default=7860, help="Port to serve on.")
    parser.add_argument("--share", action="store_true", help="Also serve through a temporary public gradio.live link.")
    args = parser.parse_args(args)
    try:
        import gradio  # noqa: F401
    except ImportError:
        from .errors import UserError

        raise UserError('The web demo needs Gradio: pip install "fer-hf[demo]" (or make install).') from None
    build_demo(load_recognizer(args)).launch(server_name=args.host, server_port=args.port, share=args.share)
