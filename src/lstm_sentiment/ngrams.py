"""The linear branch of the ``accurate`` preset: word unigrams and hashed bigrams, NBSVM-style.

Features come from the same token ids the LSTM reads, so the branch needs no tokenizer of its own
and every path that runs the network (predict, explain, serve, score, export) runs it too::

    unigram  id of each word                                  (0 < id < V)
    bigram   V + hash(id_t, id_t+1) mod buckets               (both words real)

Each feature counts once per text (binary presence, as NBSVM uses). The logit is the sum of the
present features' weights plus a bias. Weights are fitted by scikit-learn's logistic regression
on the features scaled by their naive-Bayes log-count ratio (Wang & Manning 2012, "Baselines and
bigrams"); for more than two classes, multinomial logistic regression on the binary features.
The scaling is folded into the stored weights, so inference is a plain sum.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:  # scipy is only needed to fit, not to predict
    from scipy import sparse

_MULTIPLIER = 2654435761  # Knuth's multiplicative hash; key * this stays below 2**63


_PRIME = 2_147_483_647  # 2**31 - 1: keys are reduced below it before each multiplication


def features(ids: torch.Tensor, vocab_size: int, buckets: int, order: int = 2) -> torch.Tensor:
    """[N, order * T - ...] feature indices of each row, each distinct one once, -1 for none.

    Unigrams are the ids themselves; an n-gram of 2 or more words hashes into
    ``vocab_size + [0, buckets)``. The row is sorted, so duplicates are neighbours and are
    replaced by -1.
    """
    ids = ids.long()  # keys below reach vocab_size**2; int16/int32 ids would overflow
    parts = [torch.where(ids > 0, ids, -1)]
    key = ids
    real = ids > 0
    for n in range(2, order + 1):
        key = (key[:, :-1] * vocab_size + ids[:, n - 1 :]) % _PRIME
        real = real[:, :-1] & (ids[:, n - 1 :] > 0)
        hashed = vocab_size + (key * _MULTIPLIER + n) % buckets
        parts.append(torch.where(real, hashed, -1))
    feats = torch.cat(parts, dim=1).sort(dim=1).values
    repeat = torch.zeros_like(feats, dtype=torch.bool)
    repeat[:, 1:] = feats[:, 1:] == feats[:, :-1]
    return feats.masked_fill(repeat, -1)


class NgramBranch(nn.Module):
    """Sum of the weights of a text's distinct n-gram features: logits [B] or [B, C]."""

    def __init__(self, vocab_size: int, buckets: int, outputs: int, order: int = 2) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.buckets = buckets
        self.order = order
        self.weight = nn.Parameter(torch.zeros(vocab_size + buckets, outputs),
                                   requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(outputs), requires_grad=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.shape[1] == 0:
            logits = self.bias.expand(ids.shape[0], -1)
        else:
            feats = features(ids, self.vocab_size, self.buckets, self.order)
            present = (feats >= 0).unsqueeze(-1).to(self.weight.dtype)
            logits = (self.weight[feats.clamp(min=0)] * present).sum(dim=1) + self.bias
        return logits.squeeze(-1) if logits.shape[-1] == 1 else logits

    @torch.no_grad()
    def fit(self, ids: torch.Tensor, labels: np.ndarray, *, c: float = 0.3,
            alpha: float = 1.0, batch_size: int = 2000) -> None:
        """Fit the weights on encoded rows ``ids`` [N, T] and their ``labels``."""
        from sklearn.linear_model import LogisticRegression

        x = self.matrix(ids, batch_size)
        y = np.asarray(labels)
        outputs = self.weight.shape[1]
        if outputs == 1:
            p = alpha + np.asarray(x[y == 1].sum(axis=0)).ravel()
            q = alpha + np.asarray(x[y == 0].sum(axis=0)).ravel()
            r = np.log((p / p.sum()) / (q / q.sum()))
            clf = LogisticRegression(C=c, solver="liblinear", dual=True, max_iter=1000,
                                     random_state=0)
            clf.fit(x.multiply(r).tocsr(), y)
            weight = (clf.coef_[0] * r)[:, None]
        else:
            clf = LogisticRegression(C=c, max_iter=1000)
            clf.fit(x, y)
            weight = clf.coef_.T
        self.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float32)))
        self.bias.copy_(torch.from_numpy(clf.intercept_.astype(np.float32)))

    def matrix(self, ids: torch.Tensor, batch_size: int = 2000) -> sparse.csr_matrix:
        """The binary [N, features] matrix of ``ids`` (for fitting)."""
        from scipy import sparse

        parts = []
        for chunk in ids.split(batch_size):
            feats = features(chunk, self.vocab_size, self.buckets, self.order).numpy()
            rows, cols = np.nonzero(feats >= 0)
            values = np.ones(len(rows), dtype=np.float32)
            parts.append(sparse.csr_matrix((values, (rows, feats[rows, cols])),
                                           shape=(len(chunk), self.weight.shape[0])))
        return sparse.vstack(parts).tocsr()
