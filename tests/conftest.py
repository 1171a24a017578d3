"""Shared fixtures: a tiny IMDB-shaped dataset built from seeded random reviews."""

from __future__ import annotations

import random
import subprocess
import tarfile
from pathlib import Path

import pytest

POSITIVE = ["great", "wonderful", "superb", "loved", "brilliant", "moving", "fun", "best"]
NEGATIVE = ["awful", "boring", "terrible", "hated", "worst", "dull", "waste", "bad"]
NEUTRAL = ["the", "movie", "film", "a", "plot", "actor", "scene", "was", "it", "and", "of",
           "story", "director", "this", "cast", "ending"]
ARCHIVE_NAME = "aclImdb_v1.tar.gz"


def _shared_archive() -> Path:
    """The IMDB archive in ../shared/data beside this checkout, or beside the main checkout
    when this is a git worktree (bench/common.py's default_source finds it the same way)."""
    repo = Path(__file__).resolve().parents[1]
    beside = repo.parent / "shared" / "data" / ARCHIVE_NAME
    if beside.exists():
        return beside
    try:
        common = subprocess.run(["git", "-C", str(repo), "rev-parse", "--path-format=absolute",
                                 "--git-common-dir"], capture_output=True, text=True,
                                timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return beside
    return Path(common).parents[1] / "shared" / "data" / ARCHIVE_NAME if common else beside


SHARED_ARCHIVE = _shared_archive()


def review(rng: random.Random, label: str) -> str:
    cue = POSITIVE if label == "pos" else NEGATIVE
    words = [rng.choice(NEUTRAL) for _ in range(rng.randint(5, 40))]
    for _ in range(rng.randint(1, 4)):
        words.insert(rng.randrange(len(words) + 1), rng.choice(cue))
    text = " ".join(words).capitalize() + "."
    return text.replace(" and ", " and<br /><br />", 1)


def make_imdb(root: Path, n_train: int = 60, n_test: int = 20, seed: int = 0) -> Path:
    """An aclImdb-shaped folder: train/{neg,pos,unsup}, test/{neg,pos}, IMDB-style names."""
    rng = random.Random(seed)
    base = root / "aclImdb"
    for split, n in (("train", n_train), ("test", n_test)):
        for label in ("neg", "pos"):
            folder = base / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                rating = rng.randint(1, 4) if label == "neg" else rng.randint(7, 10)
                (folder / f"{i}_{rating}.txt").write_text(review(rng, label))
    unsup = base / "train" / "unsup"
    unsup.mkdir()
    for i in range(5):
        (unsup / f"{i}_0.txt").write_text(review(rng, rng.choice(["neg", "pos"])))
    (base / "README").write_text("tiny IMDB-shaped test data\n")
    return base


def make_archive(folder: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive


@pytest.fixture(scope="session")
def tiny_imdb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The aclImdb folder of a tiny dataset (read-only by convention)."""
    return make_imdb(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_archive(tiny_imdb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_archive(tiny_imdb, tmp_path_factory.mktemp("archive") / "aclImdb_tiny.tar.gz")


@pytest.fixture(scope="session")
def full_imdb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real IMDB dataset, extracted once per session (skips when the archive is absent)."""
    if not SHARED_ARCHIVE.exists():
        pytest.skip("the IMDB archive is not beside the repo (../shared/data)")
    from lstm_sentiment import data

    return data.fetch(str(SHARED_ARCHIVE), cache=tmp_path_factory.mktemp("imdb-cache"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own download/extraction cache."""
    monkeypatch.setenv("LSTM_SENTIMENT_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def tiny_model(tiny_imdb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seed-architecture model trained 4 epochs on the tiny dataset (small vocab/length)."""
    from lstm_sentiment import config as cfg
    from lstm_sentiment.pipeline import run

    config = cfg.preset("seed")
    config.data.source = str(tiny_imdb)
    config.text.max_tokens = 50
    config.text.sequence_length = 24
    config.train.epochs = 4
    config.train.batch_size = 16
    config.train.learning_rate = 0.01
    out = tmp_path_factory.mktemp("model") / "tiny"
    run(config, out, log=lambda _line: None)
    return out
