"""The model shipped in models/fer2013-cpu-small: complete, small, loadable, and right on a real smiling face."""

import json
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import ModelCard
from transformers import AutoModelForImageClassification, pipeline
from PIL import Image

from fer_hf.errors import UserError
from fer_hf.labels import EMOTIONS
from fer_hf.realtime import DEFAULT_MODEL_DIR, EmotionRecognizer, default_model_dir
from fer_hf.demo.sample_video import face_photo

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "fer2013-cpu-small"


def test_shipped_folder_is_complete_and_small():
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md", "fer_hf_args.json",
                 "onnx-int8/model.onnx", "onnx-fp32/model.onnx", "export_report.json", "eval/metrics.json"):  # fmt: skip
        assert (SHIPPED / name).is_file(), name
    assert (SHIPPED / "model.safetensors").stat().st_size <= 25 * 2**20
    assert not list(SHIPPED.rglob("*.bin")) and not list(SHIPPED.rglob("*.pt*"))  # no pickles
    metrics = json.loads((SHIPPED / "eval" / "metrics.json").read_text())
    assert metrics["split"] == "validation" and metrics["num_examples"] == 3589  # FER2013 PublicTest
    record = json.loads((SHIPPED / "fer_hf_args.json").read_text())["run"]
    assert "--preset cpu-small" in record["command"] and record["seed"] == 42 and record["wall_seconds"] <= 2 * 3600
    card = ModelCard.load(SHIPPED / "README.md")
    assert "mobilevit" in card.data.tags and card.data.eval_results[0].metric_value == round(metrics["accuracy"], 4)
    assert record["command"] in card.text and "PublicTest, 3589 faces" in card.text


def test_realtime_and_the_python_api_default_to_the_shipped_model():
    assert default_model_dir() == DEFAULT_MODEL_DIR and DEFAULT_MODEL_DIR.parent == SHIPPED


@pytest.mark.parametrize("model_dir", [None, SHIPPED / "onnx-int8", SHIPPED])  # default (ONNX fp32), int8, safetensors
def test_the_smiling_astronaut_is_happy(model_dir):
    recognizer = EmotionRecognizer.from_pretrained(model_dir)
    boxes, probs = recognizer.detect_and_classify(face_photo())
    assert len(boxes) == 1
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert EMOTIONS[int(probs[0].argmax())] == "Happy"


def test_shipped_checkpoint_works_with_transformers_alone():
    model = AutoModelForImageClassification.from_pretrained(SHIPPED)
    assert model.config.id2label[3] == "Happy" and model.num_parameters() < 2_000_000
    classify = pipeline("image-classification", model=str(SHIPPED))
    crop = Image.fromarray(face_photo()[..., ::-1]).convert("L").resize((48, 48))
    assert classify(crop)[0]["label"] == "Happy"


def test_hflip_tta_averages_each_face_with_its_mirror():
    import cv2

    from fer_hf.inference import softmax
    from fer_hf.realtime import crop_faces

    plain, mirrored = EmotionRecognizer.from_pretrained(tta="none"), EmotionRecognizer.from_pretrained()  # hflip by default
    frame = face_photo()
    boxes, probs = mirrored.detect_and_classify(frame)
    crop = crop_faces(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), boxes, mirrored.margin)[0]
    logits = plain.classifier.logits(plain.classifier.preprocess([crop, crop[:, ::-1]]))
    np.testing.assert_allclose(probs[0], softmax(logits).mean(axis=0), rtol=1e-5, atol=1e-6)
    assert EMOTIONS[int(probs[0].argmax())] == "Happy"
    with pytest.raises(UserError, match="Unknown --tta 'vflip'"):
        EmotionRecognizer.from_pretrained(tta="vflip")


def test_shipped_int8_keeps_the_fp32_predictions():
    from fer_hf.inference import OnnxClassifier
    from fer_hf.demo.synthetic import generate

    # Convolutions stay fp32 (see fer_hf.export.DEFAULT_QUANTIZE_OPERATORS); an int8 graph that quantizes them
    # moves probabilities by up to 0.25 on these faces and flips 1 in 8 predictions.
    report = json.loads((SHIPPED / "export_report.json").read_text())
    assert report["quantize_operators"] == ["MatMul"] and "ConvInteger" not in report["int8_quantized_operators"]
    assert abs(report["accuracy"]["onnx_int8"] - report["accuracy"]["onnx_fp32"]) < 0.005
    faces = list(generate(32, seed=5)[0])
    fp32, int8 = OnnxClassifier(SHIPPED / "onnx-fp32"), OnnxClassifier(SHIPPED / "onnx-int8")
    np.testing.assert_allclose(int8.predict_proba(faces), fp32.predict_proba(faces), atol=0.02)
