"""Evaluation beyond accuracy: per-class metrics, confusion matrices, ROC curves and calibration.

Standard metrics come from scikit-learn. Only the expected calibration error is written here (no maintained
library computes it for multi-class top-1 confidence): with `M` equal-width confidence bins `B_m`,

    ECE = Σ_m |B_m| / n · |accuracy(B_m) − confidence(B_m)|        (Guo et al., 2017)
"""

import csv
import json
import os
from typing import Optional, Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)
from tqdm.auto import tqdm

from .labels import EMOTIONS
from .transforms import batch_gray


def predict_dataset(classifier, dataset, batch_size: int = 64, tta: str = "none", progress: bool = True):
    """Probabilities `(n, 7)` and labels `(n,)` of a split, in batches; `tta="hflip"` averages with the mirror."""
    import datasets

    dataset = dataset.with_format(None)  # plain rows, whatever transform training had set
    if "image" in dataset.column_names:
        dataset = dataset.cast_column("image", datasets.Image(decode=False))  # decoded straight to grayscale below
    probs, labels = [], []
    for start in tqdm(range(0, len(dataset), batch_size), desc="Evaluating", disable=not progress, unit="batch"):
        batch = dataset[start : start + batch_size]
        faces = [gray[0].numpy() for gray in batch_gray(batch)]
        probs.append(classifier.predict_proba(faces, tta))
        labels.extend(batch["label"])
    return np.concatenate(probs), np.asarray(labels)


def reliability_bins(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15):
    """Per-bin (mean confidence, accuracy, count) over `n_bins` equal-width top-1 confidence bins."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    safe = np.maximum(counts, 1)
    return (
        np.bincount(bins, weights=confidence, minlength=n_bins) / safe,
        np.bincount(bins, weights=correct, minlength=n_bins) / safe,
        counts,
    )


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Top-1 expected calibration error over `n_bins` equal-width confidence bins."""
    confidence, accuracy, counts = reliability_bins(probs, labels, n_bins)
    return float(np.sum(counts / len(labels) * np.abs(accuracy - confidence)))


def compute_metrics_report(labels: np.ndarray, probs: np.ndarray, class_names: Sequence[str] = EMOTIONS) -> dict:
    """All metrics of `metrics.json` from true labels and predicted probabilities."""
    classes = list(range(len(class_names)))
    predictions = probs.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(labels, predictions, labels=classes, zero_division=0)
    report = {"num_examples": int(len(labels)), "accuracy": float(accuracy_score(labels, predictions))}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(labels, predictions, labels=classes, average=average, zero_division=0)
        report.update({f"{average}_precision": float(p), f"{average}_recall": float(r), f"{average}_f1": float(f)})
    aucs = {}
    for c, name in enumerate(class_names):
        positives = labels == c
        # AUC is undefined for a class with no positive (or no negative) example in the split.
        aucs[name] = float(roc_auc_score(positives, probs[:, c])) if 0 < positives.sum() < len(labels) else None
    defined = [auc for auc in aucs.values() if auc is not None]
    report["macro_roc_auc"] = float(np.mean(defined)) if defined else None
    report["log_loss"] = float(log_loss(labels, np.clip(probs, 1e-7, 1.0), labels=classes))
    report["ece"] = expected_calibration_error(probs, labels, 15)
    report["per_class"] = {
        name: {
            "precision": float(precision[c]),
            "recall": float(recall[c]),
            "f1": float(f1[c]),
            "support": int(support[c]),
            "roc_auc": aucs[name],
        }
        for c, name in enumerate(class_names)
    }
    report["confusion_matrix"] = confusion_matrix(labels, predictions, labels=classes).tolist()
    report["class_names"] = list(class_names)
    return report


def plot_confusion_matrix(matrix, class_names, path: str) -> None:
    """Counts and row-normalised (recall) confusion matrices side by side."""
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    normalised = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for ax, values, title, fmt in ((axes[0], matrix, "Counts", "d"), (axes[1], normalised, "Row-normalised (recall)", ".2f")):
        image = ax.imshow(values, cmap="Blues")
        fig.colorbar(image, ax=ax, fraction=0.046)
        ax.set(xticks=range(len(class_names)), yticks=range(len(class_names)), xlabel="Predicted", ylabel="True", title=title)
        ax.set_xticklabels(class_names, rotation=45, ha="right")
        ax.set_yticklabels(class_names)
        threshold = values.max() / 2 if values.size else 0
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                ax.text(j, i, format(values[i, j], fmt), ha="center", va="center", fontsize=8,
                        color="white" if values[i, j] > threshold else "black")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_roc_curves(labels, probs, class_names, aucs: dict, path: str) -> None:
    """One-vs-rest ROC curve per class, with its AUC in the legend."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 6))
    for c, name in enumerate(class_names):
        if aucs.get(name) is None:
            continue
        fpr, tpr, _ = roc_curve(labels == c, probs[:, c])
        ax.plot(fpr, tpr, label=f"{name} (AUC {aucs[name]:.3f})")
    ax.plot([0, 1], [0, 1], "k--", linewidth=0.8)
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC, one vs rest", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability_diagram(labels, probs, path: str, n_bins: int = 15) -> None:
    """Accuracy against confidence per bin, with the diagonal of perfect calibration."""
    import matplotlib.pyplot as plt

    confidence, accuracy, counts = reliability_bins(probs, labels, n_bins)
    centers = (np.arange(n_bins) + 0.5) / n_bins
    filled = counts > 0
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.bar(centers[filled], accuracy[filled], width=1 / n_bins, edgecolor="black", alpha=0.7, label="Accuracy")
    ax.plot(confidence[filled], confidence[filled], "r.", label="Mean confidence")
    ax.plot([0, 1], [0, 1], "k--", linewidth=0.8, label="Perfect calibration")
    ece = expected_calibration_error(probs, labels, n_bins)
    ax.set(xlabel="Confidence (top-1 probability)", ylabel="Accuracy", title=f"Reliability (ECE {ece:.3f}, {n_bins} bins)",
           xlim=(0, 1), ylim=(0, 1))  # fmt: skip
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_evaluation(output_dir: str, labels, probs, identifiers: dict, class_names=EMOTIONS) -> dict:
    """Write metrics.json, classification_report.txt, the three figures, predictions.csv and report.md.

    The folder appears whole (built beside `output_dir`, then renamed) and replaces an older report only at the end.
    """
    from .outputs import atomic_dir

    with atomic_dir(output_dir) as tmp:
        return _write_evaluation(str(tmp), labels, probs, identifiers, class_names)


def _write_evaluation(output_dir: str, labels, probs, identifiers: dict, class_names) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    metrics = {**identifiers, **compute_metrics_report(labels, probs, class_names)}
    with open(os.path.join(output_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    text = classification_report(labels, probs.argmax(1), labels=list(range(len(class_names))),
                                 target_names=list(class_names), digits=4, zero_division=0)  # fmt: skip
    with open(os.path.join(output_dir, "classification_report.txt"), "w") as f:
        f.write(text)
    plot_confusion_matrix(metrics["confusion_matrix"], class_names, os.path.join(output_dir, "confusion_matrix.png"))
    aucs = {name: values["roc_auc"] for name, values in metrics["per_class"].items()}
    plot_roc_curves(labels, probs, class_names, aucs, os.path.join(output_dir, "roc_curves.png"))
    plot_reliability_diagram(labels, probs, os.path.join(output_dir, "reliability_diagram.png"))
    with open(os.path.join(output_dir, "predictions.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "label", "prediction", *[f"prob_{name}" for name in class_names]])
        for i, (label, p) in enumerate(zip(labels, probs)):
            writer.writerow([i, class_names[label], class_names[int(p.argmax())], *[f"{v:.6f}" for v in p]])
    with open(os.path.join(output_dir, "report.md"), "w") as f:
        f.write(markdown_report(metrics))
    return metrics


def _fmt(value, digits=4):
    return "n/a" if value is None else f"{value:.{digits}f}"


def markdown_report(metrics: dict) -> str:
    """A human-readable summary with the headline numbers, the per-class table and the figures."""
    lines = [
        f"# Evaluation of `{metrics.get('model', '?')}`",
        "",
        f"Data: `{metrics.get('data', '?')}`, split `{metrics.get('split', '?')}`, {metrics['num_examples']} examples"
        + (f", test-time augmentation: {metrics['tta']}" if metrics.get("tta", "none") != "none" else "")
        + ".",
        "",
        "| accuracy | macro-F1 | weighted-F1 | macro ROC AUC | log loss | ECE (15 bins) |",
        "|---|---|---|---|---|---|",
        f"| {_fmt(metrics['accuracy'])} | {_fmt(metrics['macro_f1'])} | {_fmt(metrics['weighted_f1'])} | "
        f"{_fmt(metrics['macro_roc_auc'])} | {_fmt(metrics['log_loss'])} | {_fmt(metrics['ece'])} |",
        "",
        "| class | precision | recall | F1 | ROC AUC | support |",
        "|---|---|---|---|---|---|",
    ]
    for name, values in metrics["per_class"].items():
        lines.append(
            f"| {name} | {_fmt(values['precision'])} | {_fmt(values['recall'])} | {_fmt(values['f1'])} | "
            f"{_fmt(values['roc_auc'])} | {values['support']} |"
        )
    lines += [
        "",
        "![Confusion matrix](confusion_matrix.png)",
        "",
        "![ROC curves](roc_curves.png)",
        "",
        "![Reliability diagram](reliability_diagram.png)",
        "",
    ]
    return "\n".join(lines)


def paired_comparison(labels: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> dict:
    """Is B's accuracy different from A's on the same faces? The faces only one model gets right decide it.

    McNemar's exact test: under "equally accurate", each of the `n_discordant` faces that exactly one model gets right
    is B's with probability 1/2, so the two-sided p-value is scipy's binomial test of `only_b_right` among them. The
    95% interval of the accuracy difference B − A is the paired (Wald) one: the difference ± 1.96 standard errors,
    `se = sqrt((only_a + only_b) / n − diff²) / sqrt(n)`; paired, it is much narrower than two separate intervals.
    """
    from scipy.stats import binomtest

    right_a, right_b = np.asarray(pred_a) == np.asarray(labels), np.asarray(pred_b) == np.asarray(labels)
    n, only_a, only_b = len(right_a), int(np.sum(right_a & ~right_b)), int(np.sum(right_b & ~right_a))
    diff = (only_b - only_a) / n
    se = float(np.sqrt(max((only_a + only_b) / n - diff**2, 0.0) / n))
    p_value = binomtest(only_b, only_a + only_b).pvalue if only_a + only_b else 1.0
    return {"num_examples": n, "only_a_right": only_a, "only_b_right": only_b, "accuracy_diff": diff,
            "accuracy_diff_ci95": [diff - 1.96 * se, diff + 1.96 * se], "mcnemar_p": float(p_value)}  # fmt: skip


def comparison_table(name_a: str, name_b: str, a: dict, b: dict, agreement: Optional[float],
                     paired: Optional[dict] = None) -> str:  # fmt: skip
    """Side-by-side accuracy, macro-F1, per-class recall and top-1 agreement of two evaluations, and with `paired`
    (`paired_comparison`) whether their accuracies differ beyond chance."""
    rows = [("accuracy", a["accuracy"], b["accuracy"]), ("macro-F1", a["macro_f1"], b["macro_f1"])]
    rows += [(f"recall {name}", a["per_class"][name]["recall"], b["per_class"][name]["recall"]) for name in a["per_class"]]
    width = max(len(name_a), len(name_b), 10)
    lines = [f"{'metric':<18} {name_a:>{width}} {name_b:>{width}} {'diff':>8}"]
    lines += [f"{label:<18} {va:>{width}.4f} {vb:>{width}.4f} {vb - va:>+8.4f}" for label, va, vb in rows]
    if agreement is not None:
        lines.append(f"{'top-1 agreement':<18} {agreement:>{2 * width + 1}.4f}")
    if paired is not None:
        low, high = paired["accuracy_diff_ci95"]
        lines.append(f"{'only one right':<18} {paired['only_a_right']:>{width}d} {paired['only_b_right']:>{width}d}")
        lines.append(f"accuracy diff {paired['accuracy_diff']:+.4f}, paired 95% CI [{low:+.4f}, {high:+.4f}], "
                     f"McNemar exact p = {paired['mcnemar_p']:.3g}")  # fmt: skip
    return "\n".join(lines)
