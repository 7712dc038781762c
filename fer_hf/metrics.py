"""Classification metrics for FER2013 (scikit-learn; `evaluate.load` needs the Hub, which is offline here)."""

import numpy as np
from sklearn.metrics import accuracy_score, f1_score


def compute_metrics(eval_pred) -> dict:
    """`Trainer.compute_metrics`: accuracy and macro-F1 from logits and labels."""
    logits, labels = eval_pred
    predictions = np.asarray(logits).argmax(-1)
    return {
        "accuracy": accuracy_score(labels, predictions),
        "macro_f1": f1_score(labels, predictions, average="macro", zero_division=0),
    }
