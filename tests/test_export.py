import json
import os

import numpy as np
import onnxruntime as ort
import pytest
import torch
from optimum.onnxruntime import ORTModelForImageClassification
from PIL import Image
from transformers import pipeline

import export
from fer_hf.errors import UserError
from fer_hf.export import detect_quantization_target, quantized_operators
from fer_hf.inference import TorchClassifier, load_classifier
from fer_hf.labels import EMOTIONS
from fer_hf.demo.synthetic import generate


def test_round_trip_three_loaders_match_pytorch(fer_checkpoint, fer_exports):
    fp32, int8 = fer_exports
    faces = list(generate(8, seed=3)[0])
    reference = TorchClassifier.from_pretrained(fer_checkpoint)
    pixel_values = reference.preprocess(faces)
    expected = reference.logits(pixel_values)
    for folder, tolerance in ((fp32, 1e-4), (int8, 0.5)):
        assert {"config.json", "model.onnx", "preprocessor_config.json"} <= set(os.listdir(folder))
        # 1. Optimum
        ort_model = ORTModelForImageClassification.from_pretrained(folder)
        assert [ort_model.config.id2label[i] for i in range(7)] == list(EMOTIONS)
        np.testing.assert_allclose(np.asarray(ort_model(pixel_values=torch.from_numpy(pixel_values)).logits), expected, atol=tolerance)
        # 2. plain ONNX Runtime, dynamic batch axis
        session = ort.InferenceSession(os.path.join(folder, "model.onnx"))
        for n in (1, 8):
            out = session.run(None, {"pixel_values": pixel_values[:n]})[0]
            np.testing.assert_allclose(out, expected[:n], atol=tolerance)
        # 3. the transformers pipeline
        classify = pipeline("image-classification", model=ort_model, image_processor=folder)
        top = classify(Image.fromarray(faces[0]).convert("RGB"), top_k=1)[0]
        assert top["label"] in EMOTIONS
    assert load_classifier(int8).kind == "onnx"


def test_int8_graph_is_quantized_and_smaller(fer_exports):
    fp32, int8 = fer_exports
    operators = quantized_operators(os.path.join(int8, "model.onnx"))
    assert operators.get("MatMulInteger", 0) > 0 and operators.get("DynamicQuantizeLinear", 0) > 0
    assert "ConvInteger" not in operators  # the patch embedding stays fp32 by default
    assert not quantized_operators(os.path.join(fp32, "model.onnx"))
    assert os.path.getsize(os.path.join(int8, "model.onnx")) < os.path.getsize(os.path.join(fp32, "model.onnx"))


def test_export_script_writes_the_full_report(fer_checkpoint, synthetic_csv, tmp_path, capsys):
    report = export.main(
        ["--model_dir", fer_checkpoint, "--output_dir", str(tmp_path), "--data", synthetic_csv,
         "--num_faces", "8", "--repeats", "2", "--per_channel", "true", "--optimization_level", "1",
         "--quantize_operators", "Conv", "MatMul"]  # fmt: skip
    )
    saved = json.loads((tmp_path / "export_report.json").read_text())
    assert saved == json.loads(json.dumps(report))
    assert saved["fp32_max_abs_logit_diff"] <= 1e-4
    for key in ("int8_top1_agreement", "int8_max_prob_diff", "sizes_mb", "latency_ms_per_image", "threads", "accuracy", "machine"):
        assert key in saved, key
    assert set(saved["latency_ms_per_image"]) == {"pytorch_fp32", "onnx_fp32", "onnx_int8"}
    assert set(saved["latency_ms_per_image"]["onnx_int8"]) == {"batch_1", "batch_8"}
    assert set(saved["accuracy"]) == {"onnx_fp32", "onnx_int8"}
    assert saved["quantization_target"] == detect_quantization_target()
    assert saved["quantize_operators"] == ["Conv", "MatMul"]
    assert saved["int8_quantized_operators"]["ConvInteger"] == 1  # the ViT's patch embedding
    assert "max |logit diff|" in capsys.readouterr().out


def test_export_errors(tmp_path, tiny_vit, fer_checkpoint):
    with pytest.raises(UserError, match="does not exist"):
        export.main(["--model_dir", str(tmp_path / "nope"), "--output_dir", str(tmp_path / "out")])
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    (incomplete / "config.json").write_text((open(os.path.join(fer_checkpoint, "config.json")).read()))
    with pytest.raises(UserError, match="has no preprocessor_config.json, so it is not a model"):
        export.main(["--model_dir", str(incomplete), "--output_dir", str(tmp_path / "out")])
    with pytest.raises(UserError, match="FER2013 models must have"):
        export.main(["--model_dir", tiny_vit, "--output_dir", str(tmp_path / "out")])
    with pytest.raises(UserError, match=r"Cannot quantize operators \['Softmax'\] dynamically; choose from .*MatMul"):
        export.main(["--model_dir", fer_checkpoint, "--output_dir", str(tmp_path / "out"), "--quantize_operators", "Softmax"])
    assert not (tmp_path / "out").exists()  # checked before anything is exported
    with pytest.raises(UserError, match="Unknown quantization target 'sse'"):
        export.main(["--model_dir", fer_checkpoint, "--output_dir", str(tmp_path / "out"), "--quantization_target", "sse"])
