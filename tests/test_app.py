"""The web demo in a real headless browser: upload a real face photo, read the label off the page.

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
            page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
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
