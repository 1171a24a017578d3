"""The classifier head's rule, in one place: how logits become a loss, a class and probabilities.

Two classes are one logit read through a sigmoid (the tutorial's ``Dense(1, sigmoid)``); more
are one logit per class read through a softmax. Each kind owns its loss and its prediction
together, as fastText's ``src/loss.h`` does, so no caller asks how many classes there are::

    kind = head_for(num_classes)
    kind.outputs                      # 1 or C: the width of the last linear layer
    kind.loss(logits, labels)         # binary or categorical cross-entropy
    kind.predicted(logits)            # [N] class indices
    kind.probabilities(logits)        # [N, C] (two columns for the sigmoid: p(neg), p(pos))
    kind.score(probabilities)         # [N] the number a prediction reports
    kind.output(logits)               # what an exported graph gives ([N] or [N, C])
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F


class SigmoidHead:
    """Two classes: one logit, p(class 1) = sigmoid(logit). Logits are ``[N]``."""

    outputs = 1

    def shape(self, logits: torch.Tensor) -> torch.Tensor:
        """The last linear layer's ``[N, 1]`` output as this head's logits, ``[N]``."""
        return logits.squeeze(-1)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor,
             reduction: str = "mean") -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype),
                                                  reduction=reduction)

    def predicted(self, logits: torch.Tensor) -> torch.Tensor:
        return (logits > 0).long()

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(logits)
        return torch.stack([1 - p, p], dim=-1)

    def score(self, probabilities: np.ndarray) -> np.ndarray:
        """p(positive), whichever class wins: the tutorial's reading of its one output."""
        return probabilities[:, 1]

    def output(self, logits: torch.Tensor) -> torch.Tensor:
        """What an exported graph gives: p(class 1) per row, ``[N]``."""
        return torch.sigmoid(logits)

    def describe_output(self, labels: list[str]) -> str:
        return f"p({labels[1]}) per row"


class SoftmaxHead:
    """Three or more classes: one logit per class, probabilities by softmax. Logits ``[N, C]``."""

    def __init__(self, classes: int) -> None:
        self.outputs = classes

    def shape(self, logits: torch.Tensor) -> torch.Tensor:
        return logits

    def loss(self, logits: torch.Tensor, labels: torch.Tensor,
             reduction: str = "mean") -> torch.Tensor:
        return F.cross_entropy(logits, labels, reduction=reduction)

    def predicted(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.argmax(dim=-1)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits, dim=-1)

    def score(self, probabilities: np.ndarray) -> np.ndarray:
        """p(the predicted class)."""
        return probabilities.max(axis=1)

    def output(self, logits: torch.Tensor) -> torch.Tensor:
        """What an exported graph gives: the probabilities, ``[N, C]``."""
        return torch.softmax(logits, dim=-1)

    def describe_output(self, labels: list[str]) -> str:
        return "softmax probabilities per row, columns in the order of labels"


Head = SigmoidHead | SoftmaxHead


def head_for(num_classes: int) -> Head:
    """The head for ``num_classes`` classes (at least two)."""
    if num_classes < 2:
        raise ValueError(f"a classifier needs at least two classes, got {num_classes}")
    return SigmoidHead() if num_classes == 2 else SoftmaxHead(num_classes)
