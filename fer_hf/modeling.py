"""The FER2013 classifier: a transformers image-classification model with FER2013's labels.

The head is `Dropout(p) + Linear(hidden, 7)`. It is written as a subclass of `nn.Linear` whose dropout has
no parameters, so its weights keep the plain `classifier.weight` / `classifier.bias` names: a checkpoint
loads into a stock `ViTForImageClassification` (and the Hub's `pipeline`) with identical logits. A timm model
(`TimmWrapper`) keeps timm's own head and its `drop_rate`. This module builds models for training; loading saved
ones (serving, evaluation, export) is `fer_hf.loading`'s job.
"""

import logging
from typing import Optional

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForImageClassification, PreTrainedModel

from .errors import UserError
from .labels import ID2LABEL, LABEL2ID, NUM_LABELS
from .loading import load_error_message, load_errors


logger = logging.getLogger(__name__)


class DropoutLinear(nn.Linear):
    """`Linear(Dropout(x))` with the parameter names of a plain `nn.Linear`."""

    def __init__(self, in_features: int, out_features: int, p: float = 0.0, bias: bool = True):
        super().__init__(in_features, out_features, bias=bias)
        self.dropout = nn.Dropout(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.dropout(x))


def create_model(
    name_or_path: str,
    classifier_dropout: float = 0.4,
    freeze_layers: int = 1,
    from_scratch: bool = False,
    config_overrides: Optional[dict] = None,
    conv_init: str = "config",
) -> PreTrainedModel:
    """Build an image classifier with FER2013's seven labels on a backbone.

    Args:
        name_or_path: Hub id or local directory of the backbone (its config, and weights unless `from_scratch`).
        classifier_dropout: Dropout before the final linear layer.
        freeze_layers: Freeze the embeddings and this many leading encoder layers (0 freezes nothing).
        from_scratch: Initialise randomly from the backbone's config instead of loading its weights.
        config_overrides: Config attributes to change (e.g. `{"num_hidden_layers": 4}`), from-scratch only.
        conv_init: `"config"` keeps the architecture's own initialisation; `"kaiming"` (from scratch only)
            re-draws the convolutions that feed a BatchNorm, see `kaiming_init_convolutions`.
    """
    label_kwargs = dict(num_labels=NUM_LABELS, id2label=ID2LABEL, label2id=LABEL2ID)
    if config_overrides and not from_scratch:
        raise UserError("config_overrides only apply when training from scratch.")
    if conv_init not in ("config", "kaiming") or (conv_init == "kaiming" and not from_scratch):
        raise UserError(f"conv_init must be 'config', or 'kaiming' when training from scratch; got {conv_init!r}.")
    try:
        if from_scratch:
            config = AutoConfig.from_pretrained(name_or_path, **label_kwargs, **(config_overrides or {}))
            if getattr(config, "label_names", None) is not None:  # timm configs save labels as this list
                config.label_names = list(ID2LABEL.values())
            model = AutoModelForImageClassification.from_config(config)
            if conv_init == "kaiming":
                kaiming_init_convolutions(model)
        else:
            # The in21k backbone ships without a classifier (or with another label set): start a new head.
            model = AutoModelForImageClassification.from_pretrained(
                name_or_path, ignore_mismatched_sizes=True, **label_kwargs
            )
    except load_errors() as err:
        raise UserError(load_error_message(name_or_path, err, "backbone", "--model_name_or_path")) from None
    model.config.problem_type = "single_label_classification"
    set_classifier_dropout(model, classifier_dropout)
    freeze_backbone(model, freeze_layers)
    return model


def kaiming_init_convolutions(model: nn.Module) -> int:
    """Re-draw every convolution or linear layer followed by a BatchNorm with He (fan-out) initialisation; returns how
    many.

    transformers initialises these layers like any linear layer, N(0, 0.02) (MobileViT, LeViT, CvT). Behind a
    BatchNorm the weight scale does not change the output, only the step size: AdamW moves each weight by about the
    learning rate, so at std 0.02 a step changes a filter ~6x more, relatively, than at He's std (0.12 for a 3x3x16
    filter), and the gradients are as much larger (LeViT at init: gradient norm 1544 vs 27). On FER2013 this alone
    took MobileViT-XXS from 30% to 35% validation accuracy after two epochs; LeViT's Linear+BatchNorm layers did
    not learn at all in a first epoch without it. torchvision and timm initialise their CNNs this way; layers not
    followed by a BatchNorm (ViT's patch embedding and attention) are left as they are.
    """
    modules = list(model.modules())
    count = 0
    pairs = ((nn.Conv2d, nn.BatchNorm2d), (nn.Linear, nn.BatchNorm1d))
    for layer, following in zip(modules, modules[1:]):
        if any(isinstance(layer, a) and isinstance(following, b) for a, b in pairs):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
            count += 1
    return count


def set_classifier_dropout(model: PreTrainedModel, p: float) -> None:
    """Replace the head's final `nn.Linear` by a `DropoutLinear` with the same weights; record `p` in the config.

    The final linear layer is `model.classifier` itself (ViT, MobileViT) or its `linear` (LeViT's head is
    BatchNorm1d + Linear), so the dropout sits right before the last linear map in both. A timm model
    (`TimmWrapper`) keeps timm's own head, whose dropout is timm's `drop_rate`: it is set there (an `nn.Dropout` in the
    head, as TinyViT's, or the `drop_rate` that the model's `forward_head` passes to `F.dropout`, as ResNet's) and in
    the config's `model_args`, so a stock `from_pretrained` builds the same head.
    """
    if hasattr(model, "timm_model"):
        dropouts = [m for m in _timm_head(model).modules() if isinstance(m, nn.Dropout)]
        functional = not dropouts and isinstance(getattr(model.timm_model, "drop_rate", None), (int, float))
        if not dropouts and not functional and p > 0:
            raise UserError(f"timm's {model.config.architecture} head has no dropout; use --classifier_dropout 0 or another model.")
        for dropout in dropouts:
            dropout.p = p
        if functional:
            model.timm_model.drop_rate = p
        model.config.model_args = {**(model.config.model_args or {}), "drop_rate": p}
        model.config.classifier_dropout = p
        return
    owner, name = _final_linear(model)
    head = getattr(owner, name)
    new_head = DropoutLinear(head.in_features, head.out_features, p=p, bias=head.bias is not None)
    new_head.load_state_dict(head.state_dict())
    setattr(owner, name, new_head.to(head.weight.device, head.weight.dtype))
    model.config.classifier_dropout = p


def _timm_head(model: PreTrainedModel) -> nn.Module:
    """A timm model's classification head: its `head` module (norm, dropout, linear) if it has one, else
    `get_classifier()` (which is only the final linear layer for some architectures, TinyViT's among them)."""
    head = getattr(model.timm_model, "head", None)
    return head if isinstance(head, nn.Module) else model.timm_model.get_classifier()


def _final_linear(model: PreTrainedModel) -> tuple:
    """(module, attribute name) of the classification head's final `nn.Linear`."""
    head = getattr(model, "classifier", None)
    if isinstance(head, nn.Linear):
        return model, "classifier"
    if isinstance(getattr(head, "linear", None), nn.Linear):
        return head, "linear"
    raise ValueError(f"{type(model).__name__} has no single linear classifier to put dropout in front of.")


def freeze_backbone(model: PreTrainedModel, num_layers: int) -> None:
    """Freeze the embeddings and the first `num_layers` encoder layers (`num_layers=0`: train everything)."""
    if num_layers <= 0:
        return
    base = model.base_model
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    embeddings = getattr(base, "embeddings", None)
    if layers is None or embeddings is None:
        raise UserError(f"Cannot freeze layers of {type(base).__name__}; use --freeze_layers 0 for this backbone.")
    if num_layers > len(layers):
        raise UserError(f"--freeze_layers {num_layers} exceeds the backbone's {len(layers)} encoder layers.")
    for module in [embeddings, *layers[:num_layers]]:
        module.requires_grad_(False)


def head_parameter_names(model: PreTrainedModel) -> set:
    """Names of the parameters outside the backbone (the classification head; timm's `get_classifier()`)."""
    if hasattr(model, "timm_model"):
        head = {id(p) for p in _timm_head(model).parameters()}
        return {name for name, p in model.named_parameters() if id(p) in head}
    base = {id(p) for p in model.base_model.parameters()}
    return {name for name, p in model.named_parameters() if id(p) not in base}


def create_param_groups(model: PreTrainedModel, backbone_lr: float, head_lr: float, weight_decay: float) -> list:
    """Optimiser parameter groups: backbone and head at their own learning rates; no decay on biases and norms."""
    head = head_parameter_names(model)
    groups = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        no_decay = param.ndim < 2  # biases, LayerNorm weights, and (for ViT) nothing else
        key = ("head" if name in head else "backbone", no_decay)
        group = groups.setdefault(
            key,
            {"params": [], "lr": head_lr if key[0] == "head" else backbone_lr, "weight_decay": 0.0 if no_decay else weight_decay},
        )
        group["params"].append(param)
    return list(groups.values())
