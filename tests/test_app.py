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
