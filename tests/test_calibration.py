"""Temperature scaling: fitted on validation, folded into the head, predictions unchanged."""

import json

import numpy as np
import pytest
import torch
from transformers import AutoModelForImageClassification

from fer_hf.calibration import final_linear, fit_temperature, nll
from fer_hf.commands import calibrate
from fer_hf.errors import UserError


def test_fit_temperature_recovers_the_scale_of_overconfident_logits():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 7)) * 2
    labels = np.array([rng.choice(7, p=np.exp(z) / np.exp(z).sum()) for z in true_logits])
    temperature = fit_temperature(true_logits * 3, labels)  # three times too confident
    assert 2.7 < temperature < 3.3
    assert nll(true_logits * 3, labels, temperature) < nll(true_logits * 3, labels)


def test_calibrate_writes_a_stock_checkpoint_with_scaled_logits(fer_checkpoint, synthetic_csv, tmp_path):
    overconfident = tmp_path / "overconfident"
    model = AutoModelForImageClassification.from_pretrained(fer_checkpoint)
    with torch.no_grad():
        model.classifier.weight.mul_(40)
        model.classifier.bias.mul_(40)
    model.save_pretrained(overconfident)
    (overconfident / "preprocessor_config.json").write_text(open(f"{fer_checkpoint}/preprocessor_config.json").read())
    out = tmp_path / "calibrated"
    report = calibrate.main(["--model_dir", str(overconfident), "--data", synthetic_csv, "--output_dir", str(out)])
    assert report["temperature"] > 1 and report["nll_after"] < report["nll_before"]
    assert json.loads((out / "calibration.json").read_text())["temperature"] == report["temperature"]
    calibrated = AutoModelForImageClassification.from_pretrained(out)  # a plain checkpoint
    assert calibrated.config.fer_hf_temperature == pytest.approx(report["temperature"])
    pixels = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        before, after = model(pixel_values=pixels).logits, calibrated(pixel_values=pixels).logits
    torch.testing.assert_close(after, before / report["temperature"], rtol=1e-5, atol=1e-5)
    assert torch.equal(after.argmax(1), before.argmax(1))
    with pytest.raises(UserError, match="already holds|--overwrite"):  # no silent replacement
        calibrate.main(["--model_dir", str(overconfident), "--data", synthetic_csv, "--output_dir", str(out)])
    with pytest.raises(UserError, match="not on the test split"):
        calibrate.main(["--model_dir", str(overconfident), "--data", synthetic_csv, "--output_dir", str(tmp_path / "t"), "--split", "test"])


def test_final_linear_finds_the_timm_head():
    from fer_hf.cli import PRESETS_DIR
    from fer_hf.modeling import create_model

    model = create_model(str(PRESETS_DIR / "tinyvit-fer-64"), classifier_dropout=0.2, freeze_layers=0, from_scratch=True)
    layer = final_linear(model)
    assert layer.out_features == 7 and layer is model.timm_model.get_classifier()


def test_calibrate_refuses_an_onnx_export(fer_exports, synthetic_csv, tmp_path):
    with pytest.raises(UserError, match="is an ONNX export; calibrate the PyTorch checkpoint"):
        calibrate.main(["--model_dir", fer_exports[0], "--data", synthetic_csv, "--output_dir", str(tmp_path / "c")])
    assert not (tmp_path / "c").exists()
