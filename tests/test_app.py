"""The web demo in a real headless browser: upload a real face photo, read the label off the page; stream a fake
webcam that shows the same face, read the live label.

Skips where no Chromium is installed (`.ci/run` installs Debian's `chromium`); Playwright drives that browser.
"""

import shutil
import socket

import cv2
import pytest

from fer_hf.demo.sample_video import face_photo


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# As root in a closed network: no sandbox, no background connections that the machine would refuse.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not CHROMIUM, reason="no Chromium here (apt-get install chromium)")
def test_web_demo_labels_a_real_face_photo_in_a_browser(tmp_path):
    pytest.importorskip("gradio")
    sync_api = pytest.importorskip("playwright.sync_api")
    from fer_hf.app import build_demo

    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), face_photo())
    demo = build_demo(detector="haar")  # the shipped model; Haar needs no download
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.set_input_files("#photo input[type=file]", str(photo))
            page.wait_for_function("() => (document.querySelector('#result textarea') || {}).value", timeout=60_000)
            result = page.input_value("#result textarea")
            bars = page.inner_text("#bars")
            faces = page.inner_text("#faces")
            browser.close()
    finally:
        demo.close()
    assert result.startswith("1 face: Happy"), result  # the astronaut smiles; the shipped model says Happy (~0.9)
    assert "Happy" in bars and "Neutral" in bars  # the probability bars list the emotions
    assert '"label"' in faces or "label" in faces


def write_y4m(path, frame_bgr, frames: int = 10) -> None:
    """A Y4M video of one still frame: the file Chromium's fake camera (`--use-file-for-fake-video-capture`) plays."""
    height, width = frame_bgr.shape[:2]
    i420 = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2YUV_I420).tobytes()
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + i420)


@pytest.mark.skipif(not CHROMIUM, reason="no Chromium here (apt-get install chromium)")
def test_live_webcam_tab_labels_the_face_the_camera_shows(tmp_path):
    pytest.importorskip("gradio")
    sync_api = pytest.importorskip("playwright.sync_api")
    from fer_hf.app import build_demo

    photo = face_photo()
    canvas = cv2.copyMakeBorder(photo, 0, (-photo.shape[0]) % 16, 0, (-photo.shape[1]) % 16, cv2.BORDER_CONSTANT)
    camera = tmp_path / "camera.y4m"
    write_y4m(camera, canvas)
    demo = build_demo(detector="haar")
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    fake_camera = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                   f"--use-file-for-fake-video-capture={camera}"]  # fmt: skip
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS + fake_camera)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_role("tab", name="Live webcam").click()
            page.locator("#webcam").get_by_text("Click to Access Webcam").click()
            page.locator("#webcam button").filter(has_text="Record").click()  # start streaming
            page.wait_for_function("() => ((document.querySelector('#live_result textarea') || {}).value || '').includes('face')",
                                   timeout=60_000)  # fmt: skip
            result = page.input_value("#live_result textarea")
            browser.close()
    finally:
        demo.close()
    assert result.startswith("1 face: Happy"), result  # the camera shows the smiling astronaut


def test_live_frames_are_tracked_and_smoothed():
    """The live tab's handler keeps one tracker per session: the same face keeps its track from frame to frame."""
    from fer_hf.app import analyze_frame
    from fer_hf.recognizer import EmotionRecognizer

    recognizer = EmotionRecognizer.from_pretrained(detector="haar")
    frame = cv2.cvtColor(face_photo(), cv2.COLOR_BGR2RGB)
    assert analyze_frame(recognizer, None)[1] == "Start the webcam."
    annotated, result, tracker = analyze_frame(recognizer, frame)
    assert result.startswith("1 face: Happy") and annotated.shape == frame.shape and not (annotated == frame).all()
    _, _, same = analyze_frame(recognizer, frame, tracker)
    assert same is tracker and [t.track_id for t in tracker.tracks] == [0] and tracker.tracks[0].frames == 2


def test_photo_tab_takes_color_and_grayscale_photos(tmp_path):
    """The photo tab's handler: an RGB upload reaches the recognizer in OpenCV's BGR order, and the same photo in
    grayscale is labelled too, with its faces in the JSON file offered for download."""
    import json
    import os

    from fer_hf.app import analyze_photo, to_bgr
    from fer_hf.recognizer import EmotionRecognizer

    bgr = face_photo()
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    assert (to_bgr(rgb) == bgr).all() and to_bgr(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)).shape == bgr.shape
    recognizer = EmotionRecognizer.from_pretrained(detector="haar")
    assert analyze_photo(recognizer, None)[1] == "Upload a photo or take one with the webcam."
    for photo in (rgb, cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)):
        annotated, result, probs, records, path = analyze_photo(recognizer, photo)
        assert result.startswith("1 face: Happy") and annotated.shape == rgb.shape and len(probs) == 7
        with open(path) as f:
            assert json.load(f) == records and len(records) == 1
        os.remove(path)


def test_demo_command_applies_the_model_options(monkeypatch):
    pytest.importorskip("gradio")
    import fer_hf.app as app

    served = {}

    class Page:
        def launch(self, **options):
            served.update(options)

    def build(recognizer):
        served["recognizer"] = recognizer
        return Page()

    monkeypatch.setattr(app, "build_demo", build)
    app.main(["--detector", "haar", "--margin", "0.25", "--tta", "none", "--align", "--port", "7999"])
    recognizer = served["recognizer"]
    assert (recognizer.margin, recognizer.tta, recognizer.align, recognizer.detector.name) == (0.25, "none", True, "haar")
    assert served["server_port"] == 7999
    with pytest.raises(SystemExit):  # the page always shows the bars: no --probs flag to accept and ignore
        app.main(["--probs"])
