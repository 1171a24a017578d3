"""One subset's encoded rows and labels, as training and evaluation take them."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .layers import row_lengths


@dataclass
class Split:
    """Encoded ids and labels of one subset."""

    ids: torch.Tensor  # [N, T] integer ids (int16 will do: batches are made int64 as taken)
    labels: torch.Tensor  # [N] int64

    @property
    def lengths(self) -> torch.Tensor:
        return row_lengths(self.ids)
