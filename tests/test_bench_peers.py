"""The peers' and the n-gram cross-validation's own logic (bench/peers.py, bench/ngram_cv.py),
checked on made-up results without training anything."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import sparse

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import ngram_cv  # noqa: E402 (bench/ is a folder of scripts, not a package)
import peer_sklearn  # noqa: E402
import peer_spacy  # noqa: E402
import peers  # noqa: E402


def _run(name: str, seconds: float, rate: float, latency: float) -> dict[str, Any]:
    return {"name": name, "train_seconds": seconds, "epoch_seconds": seconds / 10,
            "batch_reviews_per_second": rate, "single_review_latency_ms": latency}


def test_speed_ratios_read_as_how_many_times_faster_ours_is() -> None:
    pairs = [{"keras": _run("keras", 170, 6000, 55), "seed": _run("seed", 34, 15000, 0.6)},
             {"keras": _run("keras", 180, 6000, 50), "seed": _run("seed", 36, 12000, 0.5)}]
    ratios = peers.speed_ratios(pairs)
    assert ratios["train_seconds"] == pytest.approx([5.0, 5.0])
    assert ratios["batch_reviews_per_second"] == pytest.approx([2.5, 2.0])
    assert ratios["single_review_latency_ms"] == pytest.approx([55 / 0.6, 100.0])


def _contender(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "label": name, "n_train": 22_500, "split": "accurate",
            "validation_accuracy": 0.9, "test_accuracy": 0.9, "train_seconds": 1.0,
            "epoch_seconds": None, "single_review_latency_ms": 1.0,
            "batch_reviews_per_second": 100.0, "peak_rss_mb": 500.0, **extra}


def test_peers_render_names_the_cpu_the_pairs_and_a_capped_spacy_run() -> None:
    spacy = _contender("spacy-ensemble", label="spaCy textcat, ensemble", capped=True,
                       max_minutes=30, epoch_fraction=0.21, epochs_done=0, steps=700,
                       reviews_seen=4_700, words_per_second=690.0, train_seconds=1850.0)
    result = {"machine": {"cpu": "Test CPU 9000", "cores": 2, "usable_cores": 2},
              "epochs": 10, "baseline": None, "contenders": [spacy], "spacy": "3.8.0",
              "speed_pairs": 3, "speed_ratios": {"train_seconds": [5.1, 4.9, 5.0]},
              "skipped": {}}
    text = peers.render(result)
    assert "3 runs of each alternating" in text and "Test CPU 9000, 2 cores" in text
    assert "training time: 5.10, 4.90, 5.00 (3 alternating pairs: too few for a sd" in text
    assert "**capped** at 30 minutes of training: 0.21 of an epoch, 700 steps" in text
    assert "the accurate preset's 22,500" in text


def test_peers_render_of_a_run_without_spacy_does_not_name_it() -> None:
    old = {"machine": {}, "epochs": 10, "baseline": None, "skipped": {},
           "contenders": [{k: v for k, v in _contender("tfidf").items() if k != "split"}]}
    text = peers.render(old)
    assert "spaCy" not in text and "the accurate preset: its own 22,500" in text
    uncapped = _contender("spacy-bow", label="spaCy textcat, bag of words", capped=False,
                          max_minutes=30, epoch_fraction=10.0, epochs_done=10, steps=9_000,
                          reviews_seen=225_000, words_per_second=90_000.0)
    text = peers.render({**old, "contenders": [uncapped], "spacy": "3.8.0"})
    assert "10 epochs (the most it was given), not capped, 9,000 steps" in text
    # what was run, and only that, is named: here spaCy, on the accurate preset's split
    assert "the accurate preset's 22,500 for spaCy, which are compared" in text
    assert "linear baselines" not in text and "Pipeline.predict_proba" not in text
    both = [_contender("tfidf"), uncapped]
    text = peers.render({**old, "contenders": both, "spacy": "3.8.0"})
    assert "for the linear baselines and spaCy, which are compared" in text
    # Keras and the seed preset alone (the ratio's run): their split, nothing else named
    alone = [_contender("keras"), _contender("seed")]
    text = peers.render({**old, "contenders": alone, "baseline": "keras"})
    assert "One run: the tutorial's Keras code and our presets, trained on the tutorial's " \
           "18,750-review split; Keras" in " ".join(text.split())
    assert "linear baselines" not in text and "spaCy" not in text


def test_spacy_peer_is_skipped_with_a_reason_where_spacy_is_missing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    ok, why = peer_spacy.available()
    assert not ok and "no dependency of lstm-sentiment" in why and "spacy>=3.7,<4" in why


def test_peers_refuse_fewer_than_three_repeats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["peers.py", "--repeats", "2"])
    with pytest.raises(SystemExit) as exc:
        peers.main()
    assert exc.value.code == 2


def _cv_result(rows: dict[str, list[float]], peer_rows: dict[str, str]) -> dict[str, Any]:
    return {"rows": [{"name": n, "settings": {"model": n.split("-")[0]}, "accuracy": acc,
                      "mean": float(np.mean(acc))} for n, acc in rows.items()],
            "peer_settings": {peer: {"cv_row": row} for peer, row in peer_rows.items()}}


def test_cv_says_when_a_peer_uses_its_best_row_or_should_change() -> None:
    rows = {"nb-a": [0.910, 0.912, 0.911, 0.909, 0.913],
            "nb-b": [0.915, 0.917, 0.916, 0.914, 0.918],  # 0.005 higher in every fold
            "tfidf-a": [0.905, 0.900, 0.904, 0.901, 0.903],
            "tfidf-b": [0.904, 0.902, 0.903, 0.902, 0.903]}  # higher on average, not per fold
    verdicts = ngram_cv.peer_verdicts(_cv_result(rows, {"nbsvm": "nb-a", "tfidf": "tfidf-a"}))
    nb, tfidf = verdicts
    assert "`nb-b` is +0.0050 higher" in nb and "update SETTINGS" in nb
    assert "`tfidf-b`" in tfidf and "no better here" in tfidf
    nb, _ = ngram_cv.peer_verdicts(_cv_result(rows, {"nbsvm": "nb-b", "tfidf": "tfidf-b"}))
    assert "uses `nb-b`, the best row" in nb


def test_cv_columns_keep_the_order_and_the_most_frequent_ngrams() -> None:
    # 4 reviews x 5 n-grams: columns 0-2 words, 3-4 word pairs; document frequencies 4,1,3,2,4
    x = sparse.csr_matrix(np.array([[1, 0, 1, 1, 2], [3, 0, 1, 0, 1], [1, 1, 1, 1, 1],
                                    [1, 0, 0, 0, 1]], dtype=np.float32))
    order = np.array([1, 1, 1, 2, 2])
    words = {"input": "whole", "order": 1, "max_features": None}
    assert ngram_cv.columns(x, order, words).tolist() == [0, 1, 2]
    top = {"input": "whole", "order": 2, "max_features": 3}
    assert ngram_cv.columns(x, order, top).tolist() == [0, 2, 4]


def test_every_peer_setting_names_a_cv_row_that_is_those_settings() -> None:
    rows = {name: s for name, _, s in ngram_cv.ROWS}
    for peer, settings in peer_sklearn.SETTINGS.items():
        row = rows[settings["cv_row"]]
        assert ngram_cv.PEER_OF[row["model"]] == peer
        for key in ("standardize", "order", "max_features", "C"):
            assert row[key] == settings[key], (peer, key)
        assert row.get("alpha", settings.get("alpha")) == settings.get("alpha", row.get("alpha"))
        assert row["input"] == "whole"
