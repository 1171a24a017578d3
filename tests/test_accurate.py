"""The accurate preset's parts: n-gram branch, pooled bidirectional LSTM, word vectors, mixing,
the one-cycle schedule, and the whole preset end to end on tiny data."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_sentiment import config as cfg
from lstm_sentiment import model as model_module
from lstm_sentiment.config import ModelConfig, TrainConfig
from lstm_sentiment.embeddings import cooccurrence, ppmi_svd
from lstm_sentiment.errors import UserError
from lstm_sentiment.layers import reverse_index
from lstm_sentiment.model import HybridLSTM, PooledLSTM, build
from lstm_sentiment.ngrams import EMPTY_SLOT, NgramBranch, keys, lookup
from lstm_sentiment.optim import learning_rate_at
from lstm_sentiment.predict import SentimentModel
from lstm_sentiment.split import Split


def _distinct(row: torch.Tensor) -> set[int]:
    return {int(f) for f in row if f >= 0}


def test_ngram_keys_are_the_distinct_unigrams_and_bigrams() -> None:
    ids = torch.tensor([[5, 6, 5, 6, 7, 0, 0], [3, 0, 0, 0, 0, 0, 0]])
    found = keys(ids, vocab_size=10)
    # unigrams 5, 6, 7 and bigrams (5,6), (6,5), (6,7) as id_1 * 10 + id_2; (5,6) counts once
    assert _distinct(found[0]) == {5, 6, 7, 56, 65, 67}
    assert sum(1 for f in found[0] if f >= 0) == 6  # nothing counted twice
    assert _distinct(found[1]) == {3}  # padding is never a feature, nor a bigram with it
    assert _distinct(keys(torch.tensor([[7, 6, 5, 6]]), vocab_size=10)[0]) == {5, 6, 7, 76, 65, 56}


def test_trigrams_add_keys_only_when_asked() -> None:
    ids = torch.tensor([[4, 5, 6, 7]])
    two = _distinct(keys(ids, 10, order=2)[0])
    three = _distinct(keys(ids, 10, order=3)[0])
    assert three - two == {456, 567}


@pytest.mark.parametrize("size", [1, 2, 5, 64, 100])
def test_onnx_lookup_equals_searchsorted(size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    g = torch.Generator().manual_seed(size)
    table = torch.randperm(400, generator=g)[:size].sort().values * 3
    query = torch.randint(-2, 1300, (7, 120), generator=g)
    query[0, :size] = table  # every key once
    slot, found = lookup(table, query)
    monkeypatch.setattr(torch.onnx, "is_in_onnx_export", lambda: True)
    slot_onnx, found_onnx = lookup(table, query)
    assert torch.equal(found, found_onnx) and torch.equal(slot[found], slot_onnx[found])
    assert bool(found[0, :size].all()) and torch.equal(table[slot[found]], query[found])
    assert int(found.sum()) == int(torch.isin(query, table).sum())


def test_ngram_table_keeps_the_ngrams_of_most_texts() -> None:
    ids = torch.tensor([[2, 3, 0], [2, 3, 4], [4, 2, 0], [5, 0, 0]])
    branch = NgramBranch(10, 3, outputs=1)
    branch.fit(ids, np.array([1, 1, 0, 0]))
    # document frequencies: 2 -> 3 rows, 3, 4, 23 -> 2 rows each (ties: smaller key first)
    assert branch.keys.tolist() == [2, 3, 4]
    roomy = NgramBranch(10, 20, outputs=1)
    roomy.fit(ids, np.array([1, 1, 0, 0]))
    used = roomy.keys[roomy.keys != EMPTY_SLOT].tolist()
    assert used == [2, 3, 4, 5, 23, 34, 42]  # every n-gram, sorted, then empty slots
    assert float(roomy.weight[len(used):].abs().sum()) == 0.0


def test_ngram_branch_refuses_keys_beyond_64_bits() -> None:
    with pytest.raises(UserError, match="64-bit"):
        NgramBranch(3_000_000, 10, outputs=1, order=3)


def test_hashed_ngram_models_of_earlier_versions_get_a_clear_error() -> None:
    raw = cfg.preset("accurate").to_dict()
    raw["model"]["ngram_buckets"] = 1 << 20
    with pytest.raises(UserError, match="retrain"):
        cfg.RunConfig.from_dict(raw)


def test_ngram_branch_forward_equals_its_sparse_matrix() -> None:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 40, (30, 12), generator=g)
    ids[::3, 8:] = 0
    branch = NgramBranch(40, 64, outputs=1)
    branch.fit(ids[:20], np.arange(20) % 2)  # the table from some rows, not all
    with torch.no_grad():
        branch.weight.normal_(generator=g)
        branch.bias.fill_(0.5)
    dense = branch.matrix(ids).toarray() @ branch.weight.numpy()[:, 0] + 0.5
    np.testing.assert_allclose(branch(ids).detach().numpy(), dense, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("classes", [2, 3])
def test_ngram_branch_learns_word_labels(classes: int) -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, classes, 300)
    ids = torch.from_numpy(rng.integers(10, 60, (300, 10)))
    ids[:, 3] = torch.from_numpy(labels + 2)  # word 2 + label marks the class
    branch = NgramBranch(60, 256, outputs=1 if classes == 2 else classes)
    branch.fit(ids[:200], labels[:200])
    logits = branch(ids[200:])
    pred = (logits > 0).long() if classes == 2 else logits.argmax(-1)
    assert (pred.numpy() == labels[200:]).mean() > 0.95


def test_reverse_index_reverses_real_steps_and_keeps_padding() -> None:
    lengths = torch.tensor([3, 5, 0])
    idx = reverse_index(lengths, 5)
    assert idx.tolist() == [[2, 1, 0, 3, 4], [4, 3, 2, 1, 0], [0, 1, 2, 3, 4]]
    assert torch.equal(idx.gather(1, idx), torch.arange(5).expand(3, 5))  # its own inverse


def _pooled(pooling: str = "max-mean", bidirectional: bool = True) -> PooledLSTM:
    config = ModelConfig(vocab_size=30, num_classes=2, embedding_dim=6, hidden_size=5,
                         bidirectional=bidirectional,
                         pooling=pooling)
    return build(config, seed=3).eval()  # type: ignore[return-value]


@pytest.mark.parametrize("pooling", ["max-mean", "last"])
def test_pooled_lstm_ignores_padding_and_batch_company(pooling: str) -> None:
    net = _pooled(pooling)
    row = torch.tensor([[4, 9, 2, 7]])
    alone = net(row)
    padded = torch.cat([row, torch.zeros(1, 6, dtype=torch.long)], dim=1)
    longer = torch.tensor([[3, 5, 8, 1, 2, 6, 7, 9, 4, 3]])
    batch = net(torch.cat([padded, longer]))
    torch.testing.assert_close(batch[0], alone[0], rtol=1e-5, atol=1e-6)
    assert torch.isfinite(net(torch.zeros(2, 4, dtype=torch.long))).all()  # empty texts


@pytest.mark.parametrize("bidirectional", [True, False])
def test_pooled_inference_gives_the_training_paths_numbers(
        bidirectional: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    net = _pooled("max-mean", bidirectional)
    net.max_steps = 4  # rows of up to 11 words run as several calls
    rng = np.random.default_rng(5)
    lengths = [0, 11, 1, 4, 5, 8, 11, 3]
    ids = torch.zeros(len(lengths), 11, dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.from_numpy(rng.integers(2, 30, n))
    with torch.enable_grad():
        reference = net(ids)  # with gradients: every state kept, realigned, then pooled
    calls: list[int] = []
    original = model_module.run_chunked
    monkeypatch.setattr(model_module, "run_chunked",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    with torch.no_grad():
        fast = net(ids)
        alone = net(ids[3:4])  # a batch whose shortest row is long enough to skip the mask
    assert not calls  # the pooled inference path ran, not the training one
    torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(alone, reference[3:4], rtol=1e-5, atol=1e-6)


def test_backward_lstm_reads_the_text_reversed() -> None:
    net = _pooled("last")
    ids = torch.tensor([[4, 9, 2, 7, 0, 0]])
    feats = net.features(ids, (ids != 0).sum(dim=1))
    x = net.embedding(torch.tensor([[7, 2, 9, 4]]))
    _, (h_back, _) = net.lstm_backward(x)
    torch.testing.assert_close(feats[0, 5:], h_back[0, 0], rtol=1e-5, atol=1e-6)
    _, (h_fwd, _) = net.lstm(net.embedding(ids[:, :4]))
    torch.testing.assert_close(feats[0, :5], h_fwd[0, 0], rtol=1e-5, atol=1e-6)


def test_one_cycle_warms_up_then_anneals() -> None:
    config = TrainConfig(learning_rate=1e-2, schedule="one-cycle")
    rates = [learning_rate_at(config, s, 100) for s in range(100)]
    assert rates[0] == pytest.approx(1e-2 / 25)
    assert max(rates) == pytest.approx(1e-2) and rates.index(max(rates)) == 10
    assert all(a >= b for a, b in itertools.pairwise(rates[10:]))
    assert rates[-1] < 1e-2 / 100
    assert learning_rate_at(TrainConfig(learning_rate=0.5), 7, 100) == 0.5


def test_ppmi_vectors_put_words_of_one_context_together() -> None:
    rng = np.random.default_rng(0)
    # words 2-5 only ever appear among themselves, 6-9 among themselves
    rows = [rng.choice([2, 3, 4, 5] if i % 2 else [6, 7, 8, 9], 12) for i in range(400)]
    ids = np.array(rows)
    counts = cooccurrence([ids], 10, window=2)
    assert counts[2, 6] == 0 and counts[2, 3] > 0
    assert np.allclose(counts.toarray(), counts.toarray().T)
    vectors = ppmi_svd([ids], 10, 4)
    assert vectors.shape == (10, 4) and not vectors[:2].any()
    same, other = vectors[2] @ vectors[3], vectors[2] @ vectors[7]
    assert same > 0.8 and same > other + 0.5


def test_fit_mix_trusts_the_branch_that_knows() -> None:
    config = ModelConfig(vocab_size=20, num_classes=2, embedding_dim=4, hidden_size=3,
                         bidirectional=True,
                         pooling="max-mean", ngram_features=64)
    net = build(config, seed=0)
    assert isinstance(net, HybridLSTM)
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 200)
    ids = torch.from_numpy(rng.integers(4, 20, (200, 6)))
    ids[:, 0] = torch.from_numpy(labels + 2)
    net.ngrams.fit(ids, labels)
    net.fit_after(Split(ids, torch.from_numpy(labels)), lambda _line: None)
    lstm_weight, ngram_weight = net.mix.tolist()
    assert ngram_weight > 1.0 and abs(lstm_weight) < ngram_weight
    assert not any(p.requires_grad for p in (net.mix, net.mix_bias, net.ngrams.weight))


def _tiny_accurate(source: Path, *, validation_split: float = 0.25, max_tokens: int = 60,
                   sequence_length: int = 24, embedding_dim: int = 8, hidden_size: int = 6,
                   ngram_features: int = 512) -> cfg.RunConfig:
    """The accurate preset shrunk for tiny data: 2 epochs, batches of 16."""
    config = cfg.preset("accurate")
    config.data.source = str(source)
    config.data.validation_split = validation_split
    config.text.max_tokens = max_tokens
    config.text.sequence_length = sequence_length
    config.model.lstm_length = sequence_length * 2 // 3  # the n-grams read the rest too
    config.model.embedding_dim = embedding_dim
    config.model.hidden_size = hidden_size
    config.model.ngram_features = ngram_features
    config.train.epochs = 2
    config.train.batch_size = 16
    return config


def test_accurate_preset_end_to_end(tiny_imdb: Path, tmp_path: Path) -> None:
    from lstm_sentiment.pipeline import run

    lines: list[str] = []
    model = run(_tiny_accurate(tiny_imdb), tmp_path / "m", log=lines.append)
    text = "\n".join(lines)
    assert "Word vectors: learned from" in text and "N-gram branch" in text and "Mix:" in text
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["preset"] == "accurate" and saved["model"]["bidirectional"] is True
    parts = saved["metrics"]["parts"]
    assert set(parts) == {"lstm", "ngrams"} and set(parts["lstm"]) == {"validation", "test"}
    loaded = SentimentModel.load(tmp_path / "m")
    texts = ["a wonderful film", "dull and awful", ""]
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts),
                               atol=1e-6)
    reference = SentimentModel.load(tmp_path / "m", lstm="reference")
    np.testing.assert_allclose(reference.predict_proba(texts), model.predict_proba(texts),
                               atol=1e-5)
    assert loaded.trace("a wonderful film").input_gate.shape == (3, 6)


def test_accurate_preset_on_three_classes(tmp_path: Path) -> None:
    """A table with three classes gives softmax heads in both parts and a vector mix bias."""
    import csv
    import random

    from lstm_sentiment.pipeline import run

    rng = random.Random(0)
    words = {"happy": ["great", "lovely", "superb"], "sad": ["awful", "dull", "boring"],
             "meh": ["okay", "average", "fine"]}
    filler = ["the", "film", "was", "plot", "and", "a", "it"]
    table = tmp_path / "reviews.csv"
    with table.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(150):
            label = list(words)[i % 3]
            w.writerow([" ".join(rng.choices(filler, k=6) + rng.choices(words[label], k=2)),
                        label])
    config = _tiny_accurate(table, validation_split=0.2, max_tokens=40, sequence_length=12,
                            embedding_dim=6, hidden_size=5, ngram_features=128)
    lines: list[str] = []
    model = run(config, tmp_path / "m", log=lines.append)
    assert model.labels == ["happy", "meh", "sad"]
    # the preset's negated twins are negative/positive sentences: not made for other classes
    assert config.train.augment and not any(line.startswith("Augmented") for line in lines)
    assert any("no augmented rows" in line and "happy, meh, sad" in line for line in lines)
    assert model.network.mix_bias.shape == (3,)
    probs = SentimentModel.load(tmp_path / "m").predict_proba(["superb lovely", "dull boring"])
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert model.info["metrics"]["validation"]["accuracy"] > 0.8
