"""realtime.py and the recognizer API on footage generated from a real face photo (scikit-image's astronaut)."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

import realtime
from fer_hf.commands import analyze
from fer_hf.errors import UserError
from fer_hf.recognizer import EmotionRecognizer
from fer_hf.stream import run_stream
from fer_hf.tracking import FaceTracker, iou
from fer_hf.video import LatestFrames, open_source
from fer_hf.demo.sample_video import face_photo, make_face_frames, write_face_video


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "two_faces.avi"
    boxes = write_face_video(str(path), num_frames=24, num_faces=2)
    return str(path), boxes


def test_every_face_in_every_frame_is_found_with_one_batched_call(fer_exports, video, tmp_path):
    int8, (path, truth) = fer_exports[1], video
    recognizer = EmotionRecognizer.from_pretrained(int8, "haar")
    calls = []
    logits = recognizer.classifier.logits
    recognizer.classifier.logits = lambda pixel_values: calls.append(len(pixel_values)) or logits(pixel_values)
    out, log = tmp_path / "out.mp4", tmp_path / "faces.jsonl"
    summary = run_stream(recognizer, open_source(path), FaceTracker(), str(out), str(log))
    assert summary.frames == 24 and summary.faces == 48
    assert calls == [8] * 24  # one inference call per frame: both faces, (default TTA) their zoomed views and all mirrors
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 48
    for frame_index, frame_truth in enumerate(truth):
        found = np.array([r["box"] for r in records if r["frame"] == frame_index])
        assert (iou(found, np.array(frame_truth)).max(axis=0) > 0.2).all(), f"frame {frame_index}"
    assert {r["track_id"] for r in records} == {0, 1}  # two steady tracks, no re-identification churn
    assert set(records[0]) >= {"frame", "time_s", "track_id", "box", "label", "confidence", "emotions"}
    assert abs(sum(records[0]["emotions"].values()) - 1) < 1e-3
    capture = cv2.VideoCapture(str(out))
    assert capture.isOpened() and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 24
    ok, frame = capture.read()
    assert ok and frame.shape == (480, 640, 3)


def test_script_headless_with_csv_log_and_summary(fer_exports, video, tmp_path, capsys):
    int8, (path, _) = fer_exports[1], video
    out, log = tmp_path / "out.avi", tmp_path / "faces.csv"
    summary = realtime.main(["--source", path, "--model", int8, "--detector", "haar", "--no-display", "--output", str(out), "--log", str(log), "--probs"])
    text = capsys.readouterr().out
    assert "24 frames, 48 faces" in text and "detect" in text and "#0" in text and "#1" in text
    rows = log.read_text().splitlines()
    assert rows[0].startswith("frame,time_s,track_id,x,y,w,h,label,confidence,Angry") and len(rows) == 49
    assert summary.percentiles()["infer"][0] > 0


def test_image_and_folder_sources(fer_exports, tmp_path, capsys):
    int8 = fer_exports[1]
    frames, _ = make_face_frames(2, num_faces=3)
    cv2.imwrite(str(tmp_path / "a.png"), frames[0])
    cv2.imwrite(str(tmp_path / "b.jpg"), frames[1])
    (tmp_path / "notes.txt").write_text("not an image")
    stats = realtime.main(["--source", str(tmp_path / "a.png"), "--model", int8, "--detector", "haar", "--no-display",
                           "--output", str(tmp_path / "out.png"), "--log", str(tmp_path / "a.jsonl")])  # fmt: skip
    annotated, source = cv2.imread(str(tmp_path / "out.png")).astype(int), cv2.imread(str(tmp_path / "a.png")).astype(int)
    assert stats["photos"] == 1 and stats["faces"] == 3 and annotated.shape == source.shape  # photos: detected at full size
    for record in map(json.loads, (tmp_path / "a.jsonl").read_text().splitlines()):  # a box drawn around every face
        x, y, w, h = record["box"]
        assert np.abs(annotated[y + h // 2, x:x + 2] - source[y + h // 2, x:x + 2]).sum() > 0
    stats = realtime.main(["--source", str(tmp_path), "--model", int8, "--detector", "haar", "--no-display"])
    assert stats["photos"] == 3 and stats["videos"] == 0  # a.png, b.jpg and, by now, out.png; notes.txt is skipped
    for tta in ("none", "hflip"):  # realtime's model options reach the photo path as analyze's own flags do
        realtime.main(["--source", str(tmp_path / "a.png"), "--model", int8, "--detector", "haar", "--no-display",
                       "--tta", tta, "--margin", "0.2", "--log", str(tmp_path / f"realtime-{tta}.csv")])  # fmt: skip
        analyze.main([str(tmp_path / "a.png"), "--model", int8, "--detector", "haar", "--quiet",
                      "--tta", tta, "--margin", "0.2", "--output", str(tmp_path / f"analyze-{tta}.csv")])  # fmt: skip
        assert (tmp_path / f"realtime-{tta}.csv").read_text() == (tmp_path / f"analyze-{tta}.csv").read_text()
    assert (tmp_path / "realtime-none.csv").read_text() != (tmp_path / "realtime-hflip.csv").read_text()


def test_python_api_predict(fer_exports, fer_checkpoint):
    frame = make_face_frames(1, num_faces=2)[0][0]
    for model in (fer_exports[1], fer_checkpoint):
        faces = EmotionRecognizer.from_pretrained(model, "haar").predict(frame)
        assert len(faces) == 2
        assert faces[0].label in faces[0].probs and 0 < faces[0].confidence <= 1
        assert faces[0].box[2] * faces[0].box[3] >= faces[1].box[2] * faces[1].box[3]
    blank = np.full((240, 320, 3), 128, np.uint8)
    assert EmotionRecognizer.from_pretrained(fer_exports[1], "haar").predict(blank) == []


def test_smoothing_cuts_label_switches():
    rng = np.random.default_rng(0)
    true = np.array([0.05, 0.02, 0.03, 0.4, 0.1, 0.05, 0.35])  # Happy, with Neutral close behind
    noisy = np.clip(true + rng.normal(0, 0.12, (200, 7)), 1e-3, None)
    noisy /= noisy.sum(1, keepdims=True)
    box = np.array([[100, 100, 80, 80]])

    def switches(smoothing):
        tracker = FaceTracker(smoothing=smoothing)
        labels = [int(np.argmax(tracker.update(box, p[None])[0].probs)) for p in noisy]
        return sum(a != b for a, b in zip(labels, labels[1:]))

    raw, smooth = switches(0.0), switches(0.8)
    assert raw > 20 and smooth < raw / 3


def test_tracker_keeps_ids_and_drops_lost_tracks():
    tracker = FaceTracker(smoothing=0.5, max_missed=1)
    p = np.eye(7)[[3, 4]]
    a = tracker.update(np.array([[0, 0, 50, 50], [200, 0, 50, 50]]), p)
    b = tracker.update(np.array([[205, 2, 50, 50], [3, 1, 50, 50]]), p[::-1])  # moved a little, listed in reverse
    assert [t.track_id for t in b] == [a[1].track_id, a[0].track_id]
    tracker.update(np.zeros((0, 4)), np.zeros((0, 7)))
    tracker.update(np.zeros((0, 4)), np.zeros((0, 7)))
    assert tracker.tracks == [] and len(tracker.all_tracks()) == 2


@pytest.mark.parametrize(
    "source, message",
    [
        ("7", "No camera at index 7"),
        ("missing.mp4", "does not exist"),
        ("broken.mp4", "Cannot open video"),
        ("broken.jpg", "Cannot read image"),
        ("empty_dir", "No photos"),
    ],
)
def test_bad_sources_are_clear_errors(fer_exports, tmp_path, source, message):
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(UserError, match=message):
        realtime.main(["--source", source if source.isdigit() else str(tmp_path / source), "--model", fer_exports[1], "--no-display"])


@pytest.mark.parametrize("name, message", [("broken.mp4", "Cannot open video"), ("broken.jpg", "Cannot read image")])
def test_a_bad_file_is_reported_before_any_model_is_loaded(tmp_path, name, message):
    """One unreadable file named on its own: that is the error (with what to pass instead), even where the model would
    fail too, and no detector note comes before it."""
    (tmp_path / name).write_bytes(b"not a video or an image")
    missing_model = str(tmp_path / "no-model")
    for command, flag in ((realtime.main, "--source"), (analyze.main, None)):
        args = [flag, str(tmp_path / name)] if flag else [str(tmp_path / name)]
        with pytest.raises(UserError, match=f"{message} .*{name}.*(re-encode|pass a photo)"):
            command([*args, "--model", missing_model, "--no-display"] if flag else [*args, "--model", missing_model])


@pytest.mark.parametrize("source", ["9", "broken.mp4"])
def test_opencv_and_ffmpeg_say_nothing_before_the_one_line_error(fer_exports, tmp_path, source):
    """OpenCV's own warnings (a missing camera) and FFmpeg's (a broken MP4) are written straight to the process's
    stderr; the command's stderr is its one error line all the same."""
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    env = {key: value for key, value in os.environ.items() if not key.startswith("OPENCV_")}
    path = source if source.isdigit() else str(tmp_path / source)
    done = subprocess.run([sys.executable, "-m", "fer_hf", "realtime", "--source", path, "--model", fer_exports[1], "--no-display",
                           "--detector", "haar"], capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert done.returncode == 2 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr


def test_missing_camera_ends_in_one_line_and_writes_nothing(fer_exports, tmp_path, capsys):
    from fer_hf.cli import run

    log = tmp_path / "log.jsonl"
    with pytest.raises(SystemExit) as stop:  # what `python realtime.py ...` runs, in-process
        run(lambda: realtime.main(["--source", "9", "--model", fer_exports[1], "--no-display", "--log", str(log)]))
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("error: No camera at index 9") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # no empty log, no temporary file


def test_a_missing_camera_is_reported_before_any_model_is_loaded(tmp_path, monkeypatch):
    """No model load, no detector note: the camera is opened first."""
    from fer_hf.commands import realtime as command

    monkeypatch.setattr(command, "load_recognizer", lambda *a, **k: pytest.fail("the model was loaded first"))
    with pytest.raises(UserError, match="No camera at index 9"):
        realtime.main(["--source", "9", "--model", str(tmp_path / "no-model"), "--no-display"])


def test_a_camera_opened_before_the_model_reads_nothing_until_the_loop_asks(monkeypatch):
    """The camera is opened before the model loads, but read only from the first frame asked for, and the frames the
    driver buffered meanwhile are not counted as skipped; a model that fails to load releases the camera."""
    import time

    camera = _FakeCamera(interval=0.0005, frames=10**6)
    frames = LatestFrames(camera, "camera 0")
    time.sleep(0.05)
    assert camera.count == 0
    assert int(next(frames)[0, 0, 0]) >= 1 and frames.dropped == 0
    frames.close()
    assert camera.released
    from fer_hf.commands import realtime as command

    camera = _FakeCamera()
    monkeypatch.setattr(command, "open_source", lambda source: LatestFrames(camera, "camera 0"))
    monkeypatch.setattr(command, "load_recognizer", lambda *a, **k: (_ for _ in ()).throw(UserError("no model")))
    with pytest.raises(UserError, match="no model"):
        realtime.main(["--source", "0", "--no-display"])
    assert camera.released and camera.count == 0


def test_model_without_labels_is_a_clear_error(tiny_vit, video, tmp_path):
    with pytest.raises(UserError, match="FER2013 models must have"):
        realtime.main(["--source", video[0], "--model", tiny_vit, "--no-display"])
    with pytest.raises(UserError, match="does not exist"):
        realtime.main(["--source", video[0], "--model", str(tmp_path / "nope"), "--no-display"])


def test_face_photo_is_a_real_face():
    photo = face_photo()
    assert photo.shape[2] == 3 and min(photo.shape[:2]) >= 100


def test_without_a_display_realtime_runs_headless(fer_exports, video, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    summary = realtime.main(["--source", video[0], "--model", fer_exports[1], "--detector", "haar", "--output", str(tmp_path / "out.mp4")])
    assert summary.faces == 48 and (tmp_path / "out.mp4").is_file()  # no window, no Qt abort
    assert "note: no display here, running headless" in capsys.readouterr().err
    with pytest.raises(UserError, match="--display: there is no display here"):
        realtime.main(["--source", video[0], "--model", fer_exports[1], "--display"])


def test_analyze_returns_plain_data_for_paths_arrays_and_pil_images(fer_exports, tmp_path):
    import fer_hf
    from PIL import Image

    frame = make_face_frames(1, num_faces=2)[0][0]
    path = tmp_path / "two.png"
    cv2.imwrite(str(path), frame)
    faces = fer_hf.analyze(str(path), model=fer_exports[1], detector="haar")
    assert len(faces) == 2 and set(faces[0]) == {"box", "label", "confidence", "emotions"}
    assert faces[0]["box"][2] * faces[0]["box"][3] >= faces[1]["box"][2] * faces[1]["box"][3]  # largest first
    assert abs(sum(faces[0]["emotions"].values()) - 1) < 1e-4 and faces[0]["confidence"] == max(faces[0]["emotions"].values())
    pil = Image.fromarray(frame[..., ::-1])
    both = fer_hf.analyze([frame, pil, np.zeros((240, 320, 3), np.uint8)], model=fer_exports[1], detector="haar")
    assert [len(f) for f in both] == [2, 2, 0] and both[0] == both[1] == faces  # the same faces however given
    with pytest.raises(UserError, match="Cannot read image"):
        fer_hf.analyze(str(tmp_path / "missing.jpg"), model=fer_exports[1], detector="haar")


class _FakeCamera:
    """A capture that delivers numbered frames every `interval` seconds, as a webcam does, then (optionally) fails."""

    def __init__(self, interval=0.005, frames=None):
        self.interval, self.frames, self.count, self.released = interval, frames, 0, False

    def read(self):
        import time

        time.sleep(self.interval)
        if self.released or (self.frames is not None and self.count >= self.frames):
            return False, None
        self.count += 1
        return True, np.full((4, 4, 3), self.count % 256, np.uint8)

    def release(self):
        self.released = True


def test_camera_frames_are_read_on_a_thread_and_a_slow_loop_gets_the_newest():
    import time

    camera = _FakeCamera(interval=0.005)
    frames = LatestFrames(camera, "camera 0")
    seen = []
    for frame in frames:
        seen.append(int(frame[0, 0, 0]))
        if len(seen) == 5:
            break
        while camera.count < seen[-1] + 5:  # a loop slower than the camera: five frames arrive meanwhile
            time.sleep(0.002)
    frames.close()
    assert camera.released and not frames._thread.is_alive()
    assert all(b - a >= 5 for a, b in zip(seen, seen[1:])), seen  # each frame is the newest, not the next buffered one
    assert frames.dropped >= 4 * 4
    camera = _FakeCamera(interval=0.001, frames=30)  # a camera that stops: the iteration ends, the capture is released
    assert len(list(LatestFrames(camera, "camera 0"))) <= 30 and camera.released


def test_a_camera_that_delivers_nothing_is_one_clear_error(fer_exports, tmp_path):
    camera = _FakeCamera(interval=0.001, frames=0)
    with pytest.raises(UserError, match="camera 0 delivered no frame"):
        next(LatestFrames(camera, "camera 0"))
    assert camera.released
    recognizer = EmotionRecognizer.from_pretrained(fer_exports[1], "haar")
    with pytest.raises(UserError, match="delivered no frame"):  # through the loop: no video, no empty log left
        run_stream(recognizer, LatestFrames(_FakeCamera(frames=0), "camera 0"), output=str(tmp_path / "out.mp4"),
                   log=str(tmp_path / "faces.csv"))  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_stream_summary_counts_in_the_singular_where_it_is_one():
    from fer_hf.stream import StreamSummary

    one = StreamSummary(frames=1, faces=1, seconds=0.5, infer_calls=1, dropped=1, tracks=[(0, 1, "happy")]).format()
    assert one.startswith("1 frame, 1 face, mean 2.0 FPS (1 inference call, 1 camera frame skipped:") and "#0 happy (1 frame)" in one
    many = StreamSummary(frames=2, faces=0, seconds=1.0, infer_calls=2, tracks=[(0, 2, "sad")]).format()
    assert many.startswith("2 frames, 0 faces, mean 2.0 FPS (2 inference calls)") and "#0 sad (2 frames)" in many


class _SlowLoopFrames(LatestFrames):
    """The camera's frames as a loop that spends 5 ms on each sees them (sleeping, so the reading thread runs)."""

    def __next__(self):
        import time

        frame = super().__next__()
        time.sleep(0.005)
        return frame


def test_stream_summary_counts_skipped_camera_frames(fer_exports):
    frames = _SlowLoopFrames(_FakeCamera(interval=0.0001, frames=10**6), "camera 0")  # a camera far faster than the loop
    summary = run_stream(EmotionRecognizer.from_pretrained(fer_exports[1], "haar"), frames, max_frames=5)
    assert summary.frames == 5 and summary.dropped > 0 and "camera frames skipped" in summary.format()
    assert frames.capture.released
