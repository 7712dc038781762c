"""Temperature scaling (Guo et al. 2017): one scalar T, fitted on validation logits, that divides every logit.

It changes no prediction (the arg-max of `z / T` is the arg-max of `z`), only how confident the probabilities are,
and it is folded into the classifier's final linear layer (`W / T`, `b / T`), so a calibrated checkpoint is an
ordinary checkpoint: stock `from_pretrained`, `pipeline`, the ONNX export and every fer-hf tool use it unchanged.
Written here because it is one bounded 1-D minimisation (SciPy's `minimize_scalar`); the libraries that offer it
(`netcal`, `torchcal`) would add a dependency for these lines and none folds T into a transformers head.
"""

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax
from torch import nn

from .modeling import _final_linear


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of `labels` under `softmax(logits / temperature)`."""
    return float(-log_softmax(logits / temperature, axis=1)[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T in [0.05, 20] that minimises the NLL of `softmax(logits / T)` (searched on log T)."""
    result = minimize_scalar(lambda log_t: nll(logits, labels, float(np.exp(log_t))), bounds=(np.log(0.05), np.log(20.0)),
                             method="bounded", options={"xatol": 1e-4})  # fmt: skip
    return float(np.exp(result.x))


def final_linear(model: nn.Module) -> nn.Linear:
    """The last `nn.Linear` of the classification head, the one that writes the logits: a timm model's
    `get_classifier()`, else the layer `fer_hf.modeling` puts its dropout in front of."""
    if hasattr(model, "timm_model"):
        return model.timm_model.get_classifier()
    owner, name = _final_linear(model)
    return getattr(owner, name)


@torch.no_grad()
def scale_logits(model: nn.Module, temperature: float) -> None:
    """Divide the model's logits by `temperature` by scaling its final linear layer in place; records the product of
    all temperatures applied so far as `config.fer_hf_temperature`."""
    layer = final_linear(model)
    layer.weight.div_(temperature)
    if layer.bias is not None:
        layer.bias.div_(temperature)
    model.config.fer_hf_temperature = getattr(model.config, "fer_hf_temperature", 1.0) * temperature
