import json
import math

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support, roc_auc_score

import evaluate_model
from fer_hf.errors import UserError
from fer_hf.evaluation import compute_metrics_report, expected_calibration_error, paired_comparison, write_evaluation
from fer_hf.labels import EMOTIONS


def _fixed_predictions(n=700, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(7), n // 7)
    logits = rng.normal(size=(len(labels), 7))
    logits[np.arange(len(labels)), labels] += 1.5
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return labels, probs


def test_metrics_equal_scikit_learn():
    labels, probs = _fixed_predictions()
    report = compute_metrics_report(labels, probs)
    predictions = probs.argmax(1)
    assert report["accuracy"] == pytest.approx(accuracy_score(labels, predictions))
    assert report["macro_f1"] == pytest.approx(f1_score(labels, predictions, average="macro"))
    assert report["weighted_f1"] == pytest.approx(f1_score(labels, predictions, average="weighted"))
    precision, recall, f1, support = precision_recall_fscore_support(labels, predictions)
    for c, name in enumerate(EMOTIONS):
        per_class = report["per_class"][name]
        assert (per_class["precision"], per_class["recall"], per_class["f1"], per_class["support"]) == pytest.approx(
            (precision[c], recall[c], f1[c], support[c])
        )
        assert per_class["roc_auc"] == pytest.approx(roc_auc_score(labels == c, probs[:, c]))
    assert report["macro_roc_auc"] == pytest.approx(roc_auc_score(labels, probs, multi_class="ovr", average="macro"))
    assert np.trace(report["confusion_matrix"]) == (predictions == labels).sum()


def test_ece_is_zero_when_calibrated_and_large_when_overconfident():
    rng = np.random.default_rng(0)
    n = 20000
    confidence = rng.uniform(0.3, 1.0, n)
    labels = np.zeros(n, dtype=int)
    correct = rng.uniform(size=n) < confidence  # right exactly as often as it claims
    probs = np.zeros((n, 7))
    probs[:, 0] = confidence
    probs[:, 1:] = ((1 - confidence) / 6)[:, None]
    labels[~correct] = 1 + rng.integers(0, 6, (~correct).sum())
    assert expected_calibration_error(probs, labels) < 0.02
    overconfident = np.full((n, 7), 0.01 / 6)
    overconfident[:, 0] = 0.99
    half_right = np.where(rng.uniform(size=n) < 0.5, 0, 1)
    assert expected_calibration_error(overconfident, half_right) == pytest.approx(0.49, abs=0.02)


def test_paired_comparison_counts_the_faces_only_one_model_gets_right():
    # 1,000 faces: both right on 600, only A on 40, only B on 70, both wrong on 290.
    labels = np.zeros(1000, int)
    pred_a = np.r_[np.zeros(600), np.zeros(40), np.ones(70), np.ones(290)].astype(int)
    pred_b = np.r_[np.zeros(600), np.ones(40), np.zeros(70), np.full(290, 2)].astype(int)
    paired = paired_comparison(labels, pred_a, pred_b)
    assert (paired["only_a_right"], paired["only_b_right"]) == (40, 70)
    assert paired["accuracy_diff"] == pytest.approx(0.670 - 0.640)
    # McNemar's exact test by hand: two-sided binomial tail of 70 of 110 discordant faces at p = 1/2.
    tail = sum(math.comb(110, k) for k in range(70, 111)) / 2**110
    assert paired["mcnemar_p"] == pytest.approx(2 * tail)
    low, high = paired["accuracy_diff_ci95"]
    se = math.sqrt((110 / 1000 - 0.03**2) / 1000)
    assert (low, high) == pytest.approx((0.03 - 1.96 * se, 0.03 + 1.96 * se))
    assert low > 0 and paired["mcnemar_p"] < 0.01  # 30 more faces right out of 110 that differ: not chance
    same = paired_comparison(labels, pred_a, pred_a)
    assert same["mcnemar_p"] == 1.0 and same["accuracy_diff_ci95"] == [0.0, 0.0]


def test_every_report_file_is_written(tmp_path):
    labels, probs = _fixed_predictions(140)
    labels[labels == 1] = 0  # a class without examples: its AUC is undefined, not an error
    metrics = write_evaluation(str(tmp_path), labels, probs, {"model": "m", "data": "d", "split": "test"})
    for name in ("metrics.json", "classification_report.txt", "confusion_matrix.png", "roc_curves.png",
                 "reliability_diagram.png", "predictions.csv", "report.md"):  # fmt: skip
        assert (tmp_path / name).stat().st_size > 0, name
    assert metrics["per_class"]["Disgust"]["roc_auc"] is None
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["num_examples"] == 140 and len(saved["confusion_matrix"]) == 7
    assert len((tmp_path / "predictions.csv").read_text().splitlines()) == 141
    assert "| Happy |" in (tmp_path / "report.md").read_text()


def test_pytorch_and_onnx_give_the_same_metrics(fer_checkpoint, fer_exports, synthetic_csv, tmp_path):
    fp32, _ = fer_exports
    common = ["--data", synthetic_csv, "--split", "validation", "--no_progress", "true"]
    torch_metrics = evaluate_model.main(["--model_dir", fer_checkpoint, "--output_dir", str(tmp_path / "pt"), *common])
    onnx_metrics = evaluate_model.main(["--model_dir", fp32, "--output_dir", str(tmp_path / "onnx"), *common])
    assert torch_metrics["model_format"] == "pytorch" and onnx_metrics["model_format"] == "onnx"
    assert onnx_metrics["confusion_matrix"] == torch_metrics["confusion_matrix"]
    assert onnx_metrics["log_loss"] == pytest.approx(torch_metrics["log_loss"], abs=1e-4)


def test_compare_and_tta(fer_checkpoint, fer_exports, synthetic_csv, tmp_path, capsys):
    fp32, int8 = fer_exports
    result = evaluate_model.main(
        ["--compare", fp32, int8, "--data", synthetic_csv, "--split", "test", "--output_dir", str(tmp_path),
         "--tta", "hflip", "--no_progress", "true"]  # fmt: skip
    )
    out = capsys.readouterr().out
    assert "top-1 agreement" in out and "recall Disgust" in out
    assert f"-> {tmp_path / 'onnx-int8' / 'report.md'}" in out  # where the report is, not where it was staged
    predictions = [np.loadtxt(tmp_path / name / "predictions.csv", delimiter=",", skiprows=1, usecols=2, dtype=str)
                   for name in ("onnx-fp32", "onnx-int8")]  # fmt: skip
    assert result["top1_agreement"] == pytest.approx(np.mean(predictions[0] == predictions[1]))
    labels = np.loadtxt(tmp_path / "onnx-fp32" / "predictions.csv", delimiter=",", skiprows=1, usecols=1, dtype=str)
    right = [p == labels for p in predictions]
    assert (result["paired"]["only_a_right"], result["paired"]["only_b_right"]) == (
        np.sum(right[0] & ~right[1]), np.sum(right[1] & ~right[0]))  # fmt: skip
    assert "McNemar exact p" in out and json.loads((tmp_path / "comparison.json").read_text())["paired"] == result["paired"]
    assert result["a"]["tta"] == "hflip"
    assert (tmp_path / "comparison.json").exists() and (tmp_path / "onnx-int8" / "report.md").exists()


def test_evaluation_errors(fer_checkpoint, tiny_vit, synthetic_csv, tmp_path):
    from fer_hf.data import write_fer_csv

    no_test = tmp_path / "no_test.csv"
    write_fer_csv(str(no_test), np.zeros((1, 48, 48), np.uint8), [0], ["Training"])
    with pytest.raises(UserError, match="Split 'test' \\(FER2013 PrivateTest\\) has no rows"):
        evaluate_model.main(["--model_dir", fer_checkpoint, "--data", str(no_test)])
    with pytest.raises(UserError, match="has no config.json"):
        evaluate_model.main(["--model_dir", str(tmp_path), "--data", synthetic_csv])
    with pytest.raises(UserError, match="FER2013 models must have"):
        evaluate_model.main(["--model_dir", tiny_vit, "--data", synthetic_csv])
    with pytest.raises(UserError, match="does not exist"):
        evaluate_model.main(["--model_dir", fer_checkpoint, "--data", str(tmp_path / "nope.csv")])
    with pytest.raises(UserError, match="--compare needs exactly two models"):
        evaluate_model.main(["--compare", fer_checkpoint, "--data", synthetic_csv])


def test_hflip_tta_is_the_mean_of_each_face_and_its_mirror(fer_exports, synthetic_csv):
    from fer_hf.data import load_fer2013
    from fer_hf.evaluation import predict_dataset
    from fer_hf.inference import load_classifier

    classifier = load_classifier(fer_exports[0])
    split = load_fer2013(synthetic_csv)["test"].select(range(5))
    plain, labels = predict_dataset(classifier, split, batch_size=2, progress=False)
    mirrored, _ = predict_dataset(classifier, split.map(lambda row: {"image": row["image"].transpose(0)}), batch_size=2,
                                  progress=False)  # fmt: skip
    tta, tta_labels = predict_dataset(classifier, split, batch_size=2, tta="hflip", progress=False)
    assert np.abs(plain - mirrored).max() > 1e-3  # the synthetic faces are not symmetric, so the mirror counts
    np.testing.assert_allclose(tta, (plain + mirrored) / 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(tta_labels, labels)
    with pytest.raises(UserError, match="Unknown --tta 'vflip'"):
        predict_dataset(classifier, split, tta="vflip", progress=False)


def test_zoom_is_the_centre_crop_resized_back_as_pil_does_it():
    from fer_hf.inference import zoom_center

    rng = np.random.default_rng(0)
    pixels = rng.normal(size=(2, 3, 64, 64)).astype(np.float32)
    np.testing.assert_array_equal(zoom_center(pixels, 1.0), pixels)
    zoomed = zoom_center(pixels, 0.9)  # the centre 58x58 (3 px off each side), resized to 64x64
    assert zoomed.shape == pixels.shape and zoomed.dtype == np.float32
    for face in range(2):
        for channel in range(3):
            plane = Image.fromarray(pixels[face, channel, 3:61, 3:61], mode="F").resize((64, 64), Image.BILINEAR)
            np.testing.assert_allclose(zoomed[face, channel], np.asarray(plane), atol=1e-4)


def test_hflip_zoom_tta_averages_four_views_in_one_call(fer_exports, gray_faces):
    from fer_hf.inference import load_classifier, softmax, zoom_center

    classifier = load_classifier(fer_exports[0])
    pixels = classifier.preprocess(gray_faces[:3])
    calls = []
    logits = classifier.logits
    classifier.logits = lambda pixel_values: calls.append(len(pixel_values)) or logits(pixel_values)
    tta = classifier.predict_pixels(pixels, "hflip+zoom")
    assert calls == [12]  # 3 faces x (plain, zoomed) x (as is, mirrored)
    zoomed = zoom_center(pixels, 0.9)
    views = [pixels, zoomed, pixels[..., ::-1], zoomed[..., ::-1]]
    expected = np.mean([softmax(logits(np.ascontiguousarray(v))) for v in views], axis=0)
    np.testing.assert_allclose(tta, expected, rtol=1e-5, atol=1e-6)
    assert np.abs(tta - classifier.predict_pixels(pixels, "hflip")).max() > 1e-4  # the zoomed views count
