"""`fer-hf analyze` (photos and videos → tables, annotated copies, timelines), the detectors and model loading."""

import csv
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import seed_hub_cache
from fer_hf import detection
from fer_hf.commands import analyze
from fer_hf.demo.sample_video import face_photo, make_face_frames, write_face_video
from fer_hf.errors import UserError
from fer_hf.tracking import iou


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """A folder of photos (two faces, one face, none, an unreadable file) and a sub-folder with two videos."""
    root = tmp_path_factory.mktemp("media")
    cv2.imwrite(str(root / "two.jpg"), make_face_frames(1, num_faces=2)[0][0])
    cv2.imwrite(str(root / "one.png"), face_photo())
    cv2.imwrite(str(root / "wall.jpg"), np.full((240, 320, 3), 120, np.uint8))
    (root / "broken.jpg").write_bytes(b"not an image")
    (root / "notes.txt").write_text("ignored")
    write_face_video(str(root / "clips" / "a.avi"), num_frames=12, num_faces=2)
    write_face_video(str(root / "clips" / "b.mp4"), num_frames=24, num_faces=1)
    return root


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_photos_folder_to_csv_jsonl_and_annotated_copies(fer_exports, media, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("two.jpg", "one.png", "wall.jpg", "broken.jpg"):
        (photos / name).write_bytes((media / name).read_bytes())
    out = tmp_path / "results.csv"
    stats = analyze.main([str(photos), "--model", fer_exports[1], "--detector", "haar", "--output", str(out),
                          "--annotated", str(tmp_path / "labelled"), "--quiet"])  # fmt: skip
    assert stats["photos"] == 3 and stats["faces"] == 3 and stats["no_face"] == 1 and stats["unreadable"] == 1
    assert "3 photos, 0 videos, 3 faces, 1 photo with no face found, 1 unreadable file skipped" in capsys.readouterr().err
    rows = _rows(out)
    assert list(rows[0])[:7] == ["file", "x", "y", "w", "h", "label", "confidence"] and "Neutral" in rows[0]
    assert sorted(r["file"] for r in rows) == ["broken.jpg", "one.png", "two.jpg", "two.jpg", "wall.jpg"]  # independent photos
    assert [r["label"] for r in rows if r["file"] == "wall.jpg"] == ["no face found"]
    assert [r["label"] for r in rows if r["file"] == "broken.jpg"] == ["unreadable file"]  # skipped, but in the table
    face = next(r for r in rows if r["file"] == "one.png")
    assert abs(sum(float(face[n]) for n in ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")) - 1) < 1e-3
    labelled = sorted(p.name for p in (tmp_path / "labelled").iterdir())
    assert labelled == ["one.png", "two.jpg", "wall.jpg"]
    before, after = cv2.imread(str(photos / "two.jpg")), cv2.imread(str(tmp_path / "labelled" / "two.jpg"))
    assert before.shape == after.shape and np.abs(before.astype(int) - after).sum() > 0  # boxes drawn, no FPS banner
    assert np.abs(before[:20, :200].astype(int) - after[:20, :200]).mean() < 3  # the top-left corner is left alone
    # JSON lines carry the same faces; an existing annotated folder needs --overwrite.
    jsonl = tmp_path / "results.jsonl"
    analyze.main([str(photos), "--model", fer_exports[1], "--detector", "haar", "--output", str(jsonl), "--quiet"])
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert {r["file"] for r in records} == {"broken.jpg", "one.png", "two.jpg", "wall.jpg"}
    assert "emotions" in next(r for r in records if r["file"] == "one.png")
    with pytest.raises(UserError, match="already holds files; pass --overwrite"):
        analyze.main([str(photos), "--model", fer_exports[1], "--annotated", str(tmp_path / "labelled")])


def test_one_photo_prints_each_face(fer_exports, media, capsys):
    analyze.main([str(media / "one.png"), "--model", fer_exports[1], "--detector", "haar"])
    printed = capsys.readouterr()
    assert printed.out.startswith(f"{media / 'one.png'} face 1 at [") and printed.out.count("\n") == 1
    assert printed.err.endswith("1 photo, 0 videos, 1 face\n")
    with pytest.raises(UserError, match="Cannot read image"):
        analyze.main([str(media / "broken.jpg"), "--model", fer_exports[1], "--detector", "haar"])


def test_videos_give_rows_with_times_track_summaries_and_timelines(fer_exports, media, tmp_path):
    out = tmp_path / "faces.csv"
    stats = analyze.main([str(media / "clips"), "--model", fer_exports[1], "--detector", "haar", "--output", str(out), "--quiet"])
    assert stats["videos"] == 2 and stats["faces"] == 12 * 2 + 24
    rows = _rows(out)
    assert list(rows[0])[:4] == ["file", "frame", "time_s", "track_id"] and len(rows) == 48
    a = [r for r in rows if r["file"] == "a.avi"]
    assert {r["track_id"] for r in a} == {"0", "1"} and float(a[-1]["time_s"]) == pytest.approx(11 / 15, abs=1e-3)
    tracks = _rows(tmp_path / "faces.tracks.csv")
    assert [(t["file"], t["track_id"], t["frames"]) for t in tracks] == [("a.avi", "0", "12"), ("a.avi", "1", "12"), ("b.mp4", "0", "24")]
    shares = [float(tracks[0][f"share_{n}"]) for n in ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")]
    assert sum(shares) == pytest.approx(1, abs=1e-3) and tracks[0]["dominant"] in ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
    for name in ("a.png", "b.png"):
        png = (tmp_path / "faces_timelines" / name).read_bytes()
        assert png.startswith(b"\x89PNG")


def test_an_unreadable_video_in_a_folder_is_skipped_with_a_row(fer_exports, media, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "one.png").write_bytes((media / "one.png").read_bytes())
    (mixed / "broken.mp4").write_bytes(b"not a video")
    out = tmp_path / "faces.csv"
    stats = analyze.main([str(mixed), "--model", fer_exports[1], "--detector", "haar", "--output", str(out), "--quiet"])
    assert stats["photos"] == 1 and stats["videos"] == 0 and stats["unreadable"] == 1
    assert sorted((r["file"], r["label"]) for r in _rows(out) if r["file"] == "broken.mp4") == [("broken.mp4", "unreadable file")]
    with pytest.raises(UserError, match="Cannot open video"):  # named on its own, it is an error
        analyze.main([str(mixed / "broken.mp4"), "--model", fer_exports[1], "--detector", "haar"])


def test_yunet_finds_the_half_covered_face_that_haar_misses(fer_exports, yunet_model, tmp_path):
    frames, truth = make_face_frames(6, num_faces=3, cover_last=True)
    found = {}
    for name in ("haar", "yunet"):
        detector = detection.create_detector(name, yunet_model)
        found[name] = [(iou(detector.detect(frame).boxes, np.array(boxes)).max(axis=0) > 0.3).sum() if len(detector.detect(frame)) else 0
                       for frame, boxes in zip(frames, truth)]  # fmt: skip
    assert found["yunet"] == [3] * 6 and max(found["haar"]) <= 2
    detections = detection.create_detector("yunet", yunet_model).detect(frames[0])
    assert detections.landmarks.shape == (3, 5, 2)
    x, y, w, h = detections.boxes[0]
    assert all(x <= px <= x + w and y <= py <= y + h for px, py in detections.landmarks[0])  # eyes, nose, mouth inside


def test_yunet_model_comes_from_the_hub_cache_checked_by_sha256(yunet_model, tmp_path, monkeypatch, caplog):
    from huggingface_hub import constants

    from fer_hf.outputs import sha256_file

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    # Nothing cached and offline: auto falls back to Haar with a note; an explicit yunet is a clear error.
    assert detection.create_detector("auto").name == "haar"
    assert "YuNet's face-detector model is not cached" in caplog.text
    with pytest.raises(UserError, match="--detector yunet: cannot download opencv/face_detection_yunet"):
        detection.create_detector("yunet")
    # Cached at the pinned revision: used, once its sha256 is the published one.
    seed_hub_cache(tmp_path / "hub", detection.YUNET_REPO, detection.YUNET_REVISION, {detection.YUNET_FILE: yunet_model})
    with pytest.raises(UserError, match="is not OpenCV's published YuNet model"):
        detection.create_detector("auto")  # the test copy is another YuNet build than the published file
    monkeypatch.setattr(detection, "YUNET_SHA256", sha256_file(yunet_model))
    assert detection.create_detector("auto").name == "yunet"


def test_analyze_api_gives_landmarks_with_yunet(fer_exports, yunet_model):
    import fer_hf
    from fer_hf.recognizer import EmotionRecognizer

    faces = EmotionRecognizer.from_pretrained(fer_exports[1], yunet_model=yunet_model).predict(face_photo())
    record = faces[0].to_dict()
    assert set(record) == {"box", "label", "confidence", "emotions", "landmarks"} and len(record["landmarks"]) == 5
    assert fer_hf.analyze(face_photo(), model=fer_exports[1], detector="haar")[0].keys() == {"box", "label", "confidence", "emotions"}


def test_aligned_crop_levels_the_eyes():
    gray = np.zeros((200, 200), np.uint8)
    cv2.circle(gray, (80, 90), 6, 255, -1)  # right eye (image left)
    cv2.circle(gray, (120, 110), 6, 255, -1)  # left eye, 20 px lower: a tilted face
    landmarks = np.array([[80, 90], [120, 110], [100, 120], [85, 140], [115, 150]], np.float32)
    crop = detection.aligned_crop(gray, (50, 50, 100, 100), landmarks, margin=0.1)
    assert crop.shape == (120, 120)
    ys, xs = np.nonzero(crop > 128)
    left, right = ys[xs < 60].mean(), ys[xs >= 60].mean()
    assert abs(left - right) < 1.5  # level after alignment (20 px apart before)


def test_hub_model_id_loads_from_the_cache_with_a_subfolder(fer_exports, tmp_path, monkeypatch):
    from pathlib import Path

    from huggingface_hub import constants

    from fer_hf.inference import load_classifier

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    files = {f"onnx-int8/{p.name}": p for p in Path(fer_exports[1]).iterdir()}
    seed_hub_cache(tmp_path / "hub", "someone/fer-model", "a" * 40, files)
    classifier = load_classifier("someone/fer-model", subfolder="onnx-int8")
    assert classifier.kind == "onnx" and classifier.model_dir.endswith("onnx-int8")
    with pytest.raises(UserError, match="Cannot get model 'someone/other' from the Hugging Face Hub"):
        load_classifier("someone/other", subfolder="onnx-int8")


def test_the_onnx_path_imports_neither_torch_nor_transformers(fer_exports, media):
    code = (f"import sys; from fer_hf.commands import main; main(['analyze', {str(media / 'one.png')!r}, '--model', "
            f"{fer_exports[1]!r}, '--detector', 'haar'])\n"  # fmt: skip
            "heavy = [m for m in ('torch', 'transformers', 'optimum', 'datasets') if m in sys.modules]\n"
            "assert not heavy, heavy")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Happy" in result.stdout or "face 1" in result.stdout


def test_help_of_the_training_commands_skips_the_data_stack():
    """`fer-hf train/evaluate/calibrate/export --help` import what their flags need (transformers' argument classes), not
    datasets, scikit-learn or torchvision, which were half of their start-up."""
    code = ("import contextlib, io, sys\nfrom fer_hf.commands import main\n"
            "for name in ('train', 'evaluate', 'calibrate', 'export'):\n"
            "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "        main([name, '--help'])\n"
            "    assert '--data' in out.getvalue(), name\n"
            "heavy = [m for m in ('datasets', 'sklearn', 'torchvision') if m in sys.modules]\n"
            "assert not heavy, heavy")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_console_command_lists_its_subcommands_and_rejects_unknown_ones():
    result = subprocess.run([sys.executable, "-m", "fer_hf", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for name in ("analyze", "realtime", "demo", "train", "evaluate", "export", "push"):
        assert f"\n  {name} " in result.stdout
    result = subprocess.run([sys.executable, "-m", "fer_hf", "trian"], capture_output=True, text=True)
    assert result.returncode == 2 and "unknown command 'trian'" in result.stderr and result.stderr.count("\n") == 1
