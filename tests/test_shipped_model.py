"""The model shipped in models/fer2013-cpu-small: complete, small, loadable, and right on a real smiling face."""

import json
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import ModelCard
from transformers import AutoModelForImageClassification, pipeline
from PIL import Image

from fer_hf.cli import record_wall_seconds
from fer_hf.errors import UserError
from fer_hf.labels import EMOTIONS
from fer_hf.outputs import check_export_marker
from fer_hf.recognizer import EmotionRecognizer, default_model_dir
from fer_hf.demo.sample_video import face_photo

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "fer2013-cpu-small"
BUDGET_RUN = SHIPPED.parents[1] / "docs" / "runs" / "cpu-model-2026-12-07-epyc"  # `make cpu-model` timed end to end


def test_shipped_folder_is_complete_and_small():
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md", "fer_hf_args.json",
                 "onnx-int8/model.onnx", "onnx-fp32/model.onnx", "export_report.json", "eval/metrics.json"):  # fmt: skip
        assert (SHIPPED / name).is_file(), name
    assert (SHIPPED / "model.safetensors").stat().st_size <= 25 * 10**6
    assert not list(SHIPPED.rglob("*.bin")) and not list(SHIPPED.rglob("*.pt*"))  # no pickles
    metrics = json.loads((SHIPPED / "eval" / "metrics.json").read_text())
    assert metrics["split"] == "validation" and metrics["num_examples"] == 3589  # FER2013 PublicTest
    args = json.loads((SHIPPED / "fer_hf_args.json").read_text())
    record, teacher = args["run"], args["teacher_run"]  # `make cpu-model`: the ResNet teacher, then the TinyViT student
    assert "--preset cpu-small " in record["command"] and "--distill_from outputs/cpu-small-teacher" in record["command"]
    assert "--preset cpu-small-teacher" in teacher["command"] and record["seed"] == teacher["seed"] == 42
    # Teacher + student, all sessions of a resumed run: 3.0 h on the 2-core Ice Lake Xeon that made it, a machine that
    # trains at 0.5-0.6x the speed of the one the 2-hour budget is set on (README "The shipped run"; not yet measured there).
    machines = {teacher["machine"], record["machine"], *(s["machine"] for s in record.get("earlier_sessions", []))}
    assert len(machines) == 1 and "AVX-512" in machines.pop()
    assert record_wall_seconds(record) + record_wall_seconds(teacher) <= 3.25 * 3600
    assert args["dataset"] == {"train_rows": 28709, "validation_rows": 3589}  # all of FER2013's Training and PublicTest
    card = ModelCard.load(SHIPPED / "README.md")
    assert "timm_wrapper" in card.data.tags and card.data.eval_results[0].metric_value == round(metrics["accuracy"], 4)
    assert record["command"] in card.text and teacher["command"] in card.text and "PublicTest, 3589 faces" in card.text
    preset = json.loads((SHIPPED.parents[1] / "fer_hf" / "configs" / "cpu-small.json").read_text())
    for key in ("learning_rate", "num_train_epochs", "erasing_prob", "metric_for_best_model"):  # made with today's preset
        assert f"| {key} | {preset[key]} |" in card.text, key
    for sub in ("onnx-fp32", "onnx-int8"):
        check_export_marker(SHIPPED / sub)  # whole, as export.py wrote them


def test_the_shipped_recipe_was_timed_inside_the_two_hour_budget_on_two_avx512_cores():
    """The shipped run's own record is 3.0 h on a slower machine; the same recipe (commands, seed, data, arguments) ran
    end to end in 1.4 h on a 2-core AVX-512 machine, the kind the budget is set on (docs/runs/.../README.md)."""
    shipped, timed = (json.loads((folder / "fer_hf_args.json").read_text()) for folder in (SHIPPED, BUDGET_RUN))
    record, teacher = timed["run"], timed["teacher_run"]
    assert record["command"] == shipped["run"]["command"].replace(" --resume_from_checkpoint last", "")
    assert teacher["command"] == shipped["teacher_run"]["command"] and record["seed"] == teacher["seed"] == 42
    assert record["machine"] == teacher["machine"] and "2 cores, AVX-512" in record["machine"] and "no GPU" in record["machine"]
    assert not record.get("earlier_sessions") and record_wall_seconds(record) + record_wall_seconds(teacher) <= 2 * 3600
    for key in ("model", "data", "dataset"):
        assert timed[key] == shipped[key], key
    # Arguments that differ only in name: the run's folders and resume flag, `optim` (the shipped record names the
    # default of its day, which fer-hf did not honour then: both ran torch's AdamW) and CutMix's, added later, off.
    ours, theirs = timed["training"], shipped["training"]
    differ = {key for key in ours.keys() | theirs.keys() if ours.get(key) != theirs.get(key)}
    assert differ <= {"logging_dir", "resume_from_checkpoint", "optim", "cutmix_alpha", "cutmix_switch_prob"}, differ
    assert ours["cutmix_alpha"] == 0 and ours["optim"] == "adamw_torch"


def test_realtime_and_the_python_api_default_to_the_shipped_int8_model():
    assert default_model_dir() == SHIPPED / "onnx-int8"  # in a source checkout; an installed wheel carries its own copy


@pytest.mark.parametrize("model_dir", [None, SHIPPED / "onnx-fp32", SHIPPED])  # default (ONNX int8), fp32, safetensors
def test_the_smiling_astronaut_is_happy(model_dir):
    recognizer = EmotionRecognizer.from_pretrained(model_dir, "haar")
    detections, probs = recognizer.detect_and_classify(face_photo())
    assert len(detections) == 1
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert EMOTIONS[int(probs[0].argmax())] == "Happy"


def test_shipped_checkpoint_works_with_transformers_alone():
    model = AutoModelForImageClassification.from_pretrained(SHIPPED)  # stock transformers (TimmWrapper), no fer_hf code
    assert model.config.id2label[3] == "Happy" and model.num_parameters() < 5_000_000
    classify = pipeline("image-classification", model=str(SHIPPED))
    crop = Image.fromarray(face_photo()[..., ::-1]).convert("L").resize((48, 48))
    assert classify(crop)[0]["label"] == "Happy"


def test_hflip_tta_averages_each_face_with_its_mirror():
    import cv2

    from fer_hf.detection import crop_faces
    from fer_hf.inference import softmax

    plain, mirrored = EmotionRecognizer.from_pretrained(None, "haar", tta="none"), EmotionRecognizer.from_pretrained(None, "haar", tta="hflip")
    frame = face_photo()
    detections, probs = mirrored.detect_and_classify(frame)
    crop = crop_faces(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), detections.boxes, mirrored.margin)[0]
    pixels = plain.classifier.preprocess([crop])
    logits = plain.classifier.logits(np.concatenate([pixels, pixels[..., ::-1]]))  # the classifier mirrors the tensor
    np.testing.assert_allclose(probs[0], softmax(logits).mean(axis=0), rtol=1e-5, atol=1e-6)
    mirrored_crop = softmax(plain.classifier.logits(plain.classifier.preprocess([crop, crop[:, ::-1]]))).mean(axis=0)
    np.testing.assert_allclose(probs[0], mirrored_crop, atol=2e-3)  # = mirroring the crop before resizing
    assert EMOTIONS[int(probs[0].argmax())] == "Happy"
    with pytest.raises(UserError, match="Unknown --tta 'vflip'"):
        EmotionRecognizer.from_pretrained(tta="vflip")


def test_shipped_int8_keeps_the_fp32_predictions():
    from fer_hf.inference import OnnxClassifier
    from fer_hf.demo.synthetic import generate

    # The transformer layers' MatMuls are int8, the convolutions fp32 (see fer_hf.export.DEFAULT_QUANTIZE_OPERATORS).
    report = json.loads((SHIPPED / "export_report.json").read_text())
    assert report["quantize_operators"] == ["MatMul"] and "ConvInteger" not in report["int8_quantized_operators"]
    assert report["int8_quantized_operators"]["MatMulInteger"] >= 20
    assert abs(report["accuracy"]["onnx_int8"] - report["accuracy"]["onnx_fp32"]) <= 0.003  # within 0.3 points
    faces = list(generate(32, seed=5)[0])
    fp32, int8 = OnnxClassifier(SHIPPED / "onnx-fp32"), OnnxClassifier(SHIPPED / "onnx-int8")
    np.testing.assert_allclose(int8.predict_proba(faces), fp32.predict_proba(faces), atol=0.02)
