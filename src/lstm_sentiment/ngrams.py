"""The linear branch of the ``accurate`` preset: the most frequent word n-grams, NBSVM-style.

Features come from the same token ids the LSTM reads, so the branch needs no tokenizer of its own
and every path that runs the network (predict, explain, serve, score, export) runs it too. Each
n-gram of ``order`` words or fewer is one integer key::

    unigram  id_1                               in [0, V)
    bigram   id_1 * V + id_2                    in [V, V^2)       (ids of real words are >= 1)
    trigram  (id_1 * V + id_2) * V + id_3       in [V^2, V^3)

Fitting keeps the ``features`` keys found in the most training texts (document frequency, as
scikit-learn's ``CountVectorizer(max_features=..., binary=True)`` does) in a sorted table; at
inference each key of a text is looked up in it by binary search, and n-grams outside the table
count for nothing. Each feature counts once per text (binary presence, as NBSVM uses). The logit
is the sum of the present features' weights plus a bias. Weights are fitted by scikit-learn's
logistic regression on the features scaled by their naive-Bayes log-count ratio (Wang & Manning
2012, "Baselines and bigrams"); for more than two classes, multinomial logistic regression on the
binary features. The scaling is folded into the stored weights, so inference is a plain sum.

The table has a fixed number of slots (``features``) so that a saved model's shapes follow from
its config; slots the training texts did not fill hold a key no n-gram has and a zero weight.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from .errors import UserError

if TYPE_CHECKING:  # scipy is only needed to fit, not to predict
    from scipy import sparse

EMPTY_SLOT = torch.iinfo(torch.int64).max  # the key of an unused table slot: no n-gram has it


def keys(ids: torch.Tensor, vocab_size: int, order: int = 2) -> torch.Tensor:
    """[N, order * T - ...] n-gram keys of each row, each distinct one once, -1 for none.

    N-grams with padding (id 0) in them are not keys. The row is sorted, so duplicates are
    neighbours and are replaced by -1.
    """
    ids = ids.long()  # keys reach vocab_size**order; int16/int32 ids would overflow
    parts = [torch.where(ids > 0, ids, -1)]
    key = ids
    real = ids > 0
    for n in range(2, order + 1):
        key = key[:, :-1] * vocab_size + ids[:, n - 1 :]
        real = real[:, :-1] & (ids[:, n - 1 :] > 0)
        parts.append(torch.where(real, key, -1))
    feats = torch.cat(parts, dim=1).sort(dim=1).values
    repeat = torch.zeros_like(feats, dtype=torch.bool)
    repeat[:, 1:] = feats[:, 1:] == feats[:, :-1]
    return feats.masked_fill(repeat, -1)


def lookup(table: torch.Tensor, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Slots of ``query``'s keys in the sorted ``table`` and whether each key is there.

    ``torch.searchsorted`` does it; an ONNX export, which has no such operator, gets the same
    lower-bound binary search as a fixed number of gathers and comparisons.
    """
    size = int(table.shape[0])  # fixed by the config, so a constant in an exported graph
    if torch.onnx.is_in_onnx_export():
        below = torch.zeros_like(query)  # how many table keys are < query, found bit by bit
        step = 1 << max(size.bit_length() - 1, 0)
        while step:
            probe = below + step
            inside = probe <= size
            smaller = table[(probe - 1).clamp(0, size - 1)] < query
            below = torch.where(inside & smaller, probe, below)
            step >>= 1
        slot = below
    else:
        slot = torch.searchsorted(table, query)
    slot = slot.clamp(max=size - 1)
    return slot, table[slot] == query


class _Slots(torch.autograd.Function):
    """1 + the slot of each of ``query``'s keys in the sorted ``table``, 0 for a key not in it.

    In an ONNX export this is one ``ai.onnx.ml`` LabelEncoder (a hash table holding the table's
    keys): ONNX Runtime runs it much faster than :func:`lookup`'s binary search, but it is not
    among the standard operators every ONNX runtime knows (see :attr:`NgramBranch.hashed`).
    """

    @staticmethod
    def forward(ctx: Any, query: torch.Tensor, table: torch.Tensor,
                keys_list: list[int]) -> torch.Tensor:
        slot, found = lookup(table, query)
        return torch.where(found, slot + 1, 0)

    @staticmethod
    def symbolic(g: Any, query: Any, table: Any, keys_list: list[int]) -> Any:
        slots = g.op("ai.onnx.ml::LabelEncoder", query, keys_int64s_i=keys_list,
                     values_int64s_i=list(range(1, len(keys_list) + 1)), default_int64_i=0)
        slots.setType(query.type())  # int64, the query's shape: the exporter cannot infer it
        return slots


class NgramBranch(nn.Module):
    """Sum of the weights of a text's distinct n-grams found in the table: logits [B] or [B, C]."""

    def __init__(self, vocab_size: int, features: int, outputs: int, order: int = 2) -> None:
        super().__init__()
        if features < 1 or order < 1:
            raise UserError(f"the n-gram branch needs features >= 1 and order >= 1, got "
                            f"{features} and {order}")
        if vocab_size ** order >= EMPTY_SLOT:
            raise UserError(f"n-grams of {order} words over {vocab_size:,} tokens do not fit "
                            "64-bit keys; use a smaller vocabulary or order")
        self.vocab_size = vocab_size
        self.order = order
        # cut a batch to its longest row (an ONNX export turns it off: dynamic shapes)
        self.trim: bool = True
        # an ONNX export looks keys up by a hash table (ai.onnx.ml, see _Slots) instead of a
        # binary search of standard operators: for ONNX Runtime, not for every runtime
        self.hashed: bool = False
        self.register_buffer("keys", torch.full((features,), EMPTY_SLOT, dtype=torch.int64))
        self.weight = nn.Parameter(torch.zeros(features, outputs), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(outputs), requires_grad=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.trim and ids.shape[0]:  # padding columns hold no n-gram
            ids = ids[:, : max(int((ids != 0).sum(dim=1).max()), 1)]
        if ids.shape[1] == 0:
            logits = self.bias.expand(ids.shape[0], -1)
        elif self.hashed and torch.onnx.is_in_onnx_export():
            # row 0 of the weights is a zero row: what a key outside the table gets
            slots = _Slots.apply(keys(ids, self.vocab_size, self.order), self.keys,
                                 self.keys.tolist())
            weight = torch.cat([torch.zeros_like(self.weight[:1]), self.weight])
            logits = weight[slots].sum(dim=1) + self.bias
        else:
            slot, found = lookup(self.keys, keys(ids, self.vocab_size, self.order))
            present = found.unsqueeze(-1).to(self.weight.dtype)
            logits = (self.weight[slot] * present).sum(dim=1) + self.bias
        return logits.squeeze(-1) if logits.shape[-1] == 1 else logits

    @torch.no_grad()
    def fit(self, ids: torch.Tensor, labels: np.ndarray, *, c: float = 0.1,
            alpha: float = 1.0, batch_size: int = 2000) -> None:
        """Choose the table from encoded rows ``ids`` [N, T] and fit its weights to ``labels``."""
        from sklearn.linear_model import LogisticRegression

        rows, found = self._present(ids, batch_size)
        self._choose(found)
        x = self._matrix(rows, found, len(ids))
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
        weight[self.keys.numpy() == EMPTY_SLOT] = 0.0  # unused slots: counted by nothing
        self.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float32)))
        self.bias.copy_(torch.from_numpy(clf.intercept_.astype(np.float32)))

    def matrix(self, ids: torch.Tensor, batch_size: int = 2000) -> sparse.csr_matrix:
        """The binary [N, features] matrix of ``ids`` over the table's slots."""
        return self._matrix(*self._present(ids, batch_size), len(ids))

    def _present(self, ids: torch.Tensor, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Every (row, key) pair of ``ids``' distinct n-grams, as two flat arrays."""
        rows, found = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for start in range(0, len(ids), batch_size):
            k = keys(ids[start : start + batch_size], self.vocab_size, self.order).numpy()
            r, col = np.nonzero(k >= 0)
            rows.append(r + start)
            found.append(k[r, col])
        return np.concatenate(rows), np.concatenate(found)

    def _choose(self, found: np.ndarray) -> None:
        """Fill the table with the keys found in the most rows (ties: the smaller key)."""
        distinct, rows = np.unique(found, return_counts=True)  # keys are distinct per row
        best = np.lexsort((distinct, -rows))[: self.keys.shape[0]]
        table = np.full(self.keys.shape[0], EMPTY_SLOT, dtype=np.int64)
        table[: len(best)] = np.sort(distinct[best])
        self.keys.copy_(torch.from_numpy(table))

    def _matrix(self, rows: np.ndarray, found: np.ndarray, n: int) -> sparse.csr_matrix:
        from scipy import sparse

        slot, hit = (t.numpy() for t in lookup(self.keys, torch.from_numpy(found)))
        values = np.ones(int(hit.sum()), dtype=np.float32)
        return sparse.csr_matrix((values, (rows[hit], slot[hit])),
                                 shape=(n, self.keys.shape[0]))
