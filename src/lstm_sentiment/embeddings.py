"""Word vectors learned from unlabelled text before training: PPMI + truncated SVD.

Counting which words occur near which others, in every text the preset may learn from (the
training split and, for IMDB, the 50,000 unlabelled reviews of ``train/unsup``; never the
validation or test reviews), and factorizing the positive pointwise mutual information of those
counts gives word vectors about as useful as word2vec's (Levy, Goldberg & Dagan 2015, "Improving
distributional similarity with lessons learned from word embeddings"), with no extra
dependency:

1. co-occurrence counts within ``window`` words either side, each pair weighted 1/distance;
2. PPMI with context-distribution smoothing (context counts raised to 0.75);
3. randomized truncated SVD (scikit-learn), vectors ``U * sqrt(S)``, each scaled to unit length.

The vectors seed the embedding table; training then adjusts them like any other weight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np

from . import progress
from .text import TextEncoder

if TYPE_CHECKING:  # imported where used: runs without word vectors never load SciPy
    from scipy import sparse


def cooccurrence(chunks: Iterable[np.ndarray], vocab_size: int,
                 window: int = 5) -> sparse.csr_matrix:
    """Symmetric [V, V] co-occurrence counts of encoded rows, given as chunks of [n, T] ids
    (0 = padding, 1 = unknown; neither is counted), each pair weighted 1/distance."""
    from scipy import sparse

    total = sparse.csr_matrix((vocab_size, vocab_size), dtype=np.float32)
    for chunk in chunks:
        rows, cols, weights = [], [], []
        for distance in range(1, window + 1):
            left, right = chunk[:, :-distance].ravel(), chunk[:, distance:].ravel()
            keep = (left > 1) & (right > 1)
            rows.append(left[keep])
            cols.append(right[keep])
            weights.append(np.full(int(keep.sum()), 1.0 / distance, dtype=np.float32))
        r, c, w = np.concatenate(rows), np.concatenate(cols), np.concatenate(weights)
        total = total + sparse.csr_matrix((w, (r, c)), shape=(vocab_size, vocab_size))
    return (total + total.T).tocsr()


def ppmi(counts: sparse.csr_matrix, smoothing: float = 0.75) -> sparse.csr_matrix:
    """Positive PMI of a co-occurrence matrix, context distribution raised to ``smoothing``."""
    from scipy import sparse

    counts = counts.tocoo()
    word = np.asarray(counts.sum(axis=1)).ravel()
    context = np.asarray(counts.sum(axis=0)).ravel() ** smoothing
    # log P(i, j) / (P(i) P_smoothed(j)) = log c_ij * sum(context) / (word_i * context_j)
    with np.errstate(divide="ignore"):
        pmi = np.log(counts.data * context.sum() / (word[counts.row] * context[counts.col]))
    keep = pmi > 0
    return sparse.csr_matrix((pmi[keep].astype(np.float32),
                              (counts.row[keep], counts.col[keep])), shape=counts.shape)


def ppmi_svd(chunks: Iterable[np.ndarray], vocab_size: int, dim: int, *, window: int = 5,
             seed: int = 0, log: Callable[[str], None] | None = None) -> np.ndarray:
    """[V, dim] float32 word vectors from encoded texts (chunks of [n, T] ids); rows 0 (padding)
    and 1 (unknown), and words never seen with a neighbour, are zero."""
    from sklearn.utils.extmath import randomized_svd

    matrix = ppmi(cooccurrence(chunks, vocab_size, window))
    if log:
        log(f"Word vectors: PPMI matrix {vocab_size:,}^2 with {matrix.nnz:,} entries, "
            f"SVD to {dim}")
    u, s, _ = randomized_svd(matrix, n_components=dim, n_iter=5, random_state=seed)
    vectors = u * np.sqrt(s)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    vectors[:2] = 0.0
    return vectors.astype(np.float32)


def encoded_chunks(encoder: TextEncoder, texts: list[str], length: int = 1000,
                   batch_size: int = 2000) -> Iterable[np.ndarray]:
    """``texts`` encoded ``batch_size`` at a time with ``encoder``'s vocabulary, up to ``length``
    words each (longer than the model reads: every word pair helps the counts)."""
    long = TextEncoder.from_json(encoder.to_json(), length)
    starts = range(0, len(texts), batch_size)
    for start in progress.track(starts, "count word pairs"):
        yield long.encode(texts[start : start + batch_size]).astype(np.int32)
