"""dask_scoring.py: partitions scored on a local multi-process Dask cluster give score's rows."""

from __future__ import annotations

import csv
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

from conftest import review  # noqa: E402

from lstm_sentiment import SentimentModel  # noqa: E402
from lstm_sentiment.dask_scoring import (  # noqa: E402
    load_counts,
    output_meta,
    pick_text_column,
    score_dataframe,
    score_partition,
)
from lstm_sentiment.errors import ArtifactError, UserError  # noqa: E402
from lstm_sentiment.predict import NO_KNOWN_WORDS, NO_WORDS  # noqa: E402
from lstm_sentiment.score import score_file  # noqa: E402

READ = {"dtype": str, "keep_default_na": False}  # every field a string, as score reads it
SPECIAL = ["", "zzzqx qqxzz", "NA", 'He said "superb", twice; Café ✨', "   ", "null"]


def reviews(n: int, multiline: bool, seed: int = 3) -> list[list[str]]:
    """``id, review`` rows: seeded reviews with texts score gives no label or finds awkward."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        text = review(rng, rng.choice(["pos", "neg"]))
        if i % 7 == 3:
            text = SPECIAL[(i // 7) % len(SPECIAL)]
        if multiline and i % 11 == 5:
            text = text.replace(" ", "\n", 1)  # a quoted line break inside the field
        rows.append([f"r{i}", text])
    return rows


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "review"])
        writer.writerows(rows)
    return path


def scored_by_score(model: SentimentModel, src: Path, out: Path, **kwargs: Any
                    ) -> list[dict[str, str]]:
    score_file(model, src, out, **kwargs)
    with out.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def strings(column: Any) -> list[str | None]:
    """A string column's values, None where missing."""
    assert pd.api.types.is_string_dtype(column.dtype) and column.dtype != object
    return [None if pd.isna(value) else value for value in column.tolist()]


def assert_same_as_score(got: Any, want: list[dict[str, str]], exact: bool = True) -> None:
    """``got`` (a pandas frame from Dask) holds score's rows in order, with its labels, its
    errors less the ``line N: `` that a partition cannot know, and its float32 scores."""
    assert list(got.columns) == ["id", "review", "label", "score", "error"]
    assert got["score"].dtype == np.float32
    assert got["id"].tolist() == [row["id"] for row in want]
    assert got["review"].tolist() == [row["review"] for row in want]
    assert strings(got["label"]) == [row["label"] or None for row in want]
    assert strings(got["error"]) == [re.sub(r"^line \d+: ", "", row["error"]) or None
                                     for row in want]
    assert all(re.match(r"line \d+: ", row["error"]) for row in want if row["error"])
    expected = np.array([row["score"] or "nan" for row in want], dtype=np.float32)
    if exact:
        np.testing.assert_array_equal(got["score"].to_numpy(), expected)
    else:
        np.testing.assert_allclose(got["score"].to_numpy(), expected, rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """Two worker processes of one thread each; closed whatever the tests do."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as c:
        yield c


def test_partitions_on_a_cluster_equal_score(client: Any, tiny_model: Path,
                                             tmp_path: Path) -> None:
    """Exactly score's output, when each partition is one of score's chunks: the model reads
    the same texts together, so the same float32 numbers come out."""
    rows = reviews(120, multiline=True)
    src = write_csv(tmp_path / "reviews.csv", rows)
    # blocksize=None: read by pandas' parser whole (quoted line breaks and all), then split
    ddf = dd.read_csv(src, blocksize=None, **READ).repartition(npartitions=4)
    sizes = ddf.map_partitions(len).compute().tolist()
    assert sizes == [30, 30, 30, 30]
    want = scored_by_score(SentimentModel.load(tiny_model), src, tmp_path / "out.csv",
                           chunk_size=sizes[0])
    assert {row["error"].split(": ", 1)[-1] for row in want} >= {NO_WORDS, NO_KNOWN_WORDS}
    got = score_dataframe(ddf, tiny_model).compute()
    assert_same_as_score(got, want)
    assert got["label"].dtype == got["error"].dtype == pd.StringDtype()

    # once per worker process, not once per partition (4 here, more in the next test)
    loads = client.run(load_counts)
    counts = [worker[str(tiny_model.absolute())] for worker in loads.values() if worker]
    assert counts and all(n == 1 for n in counts)


def test_blocks_of_a_csv_written_to_parquet_give_score_rows(client: Any, tiny_model: Path,
                                                           tmp_path: Path) -> None:
    """Byte-sized blocks (rows split where they fall) keep score's rows, order, labels and
    errors; the scores differ from score's by at most a rounding step, since a batch of other
    texts is summed in another order (the tolerance predict's batch test allows)."""
    src = write_csv(tmp_path / "reviews.csv", reviews(300, multiline=False))
    ddf = dd.read_csv(src, blocksize=2_000, **READ)
    assert ddf.npartitions >= 3
    want = scored_by_score(SentimentModel.load(tiny_model), src, tmp_path / "out.csv")
    # as docs/scale-out.md does: numbered so that any reader takes the files in order
    score_dataframe(ddf, tiny_model).to_parquet(tmp_path / "scored",
                                                name_function=lambda i: f"part-{i:05d}.parquet")
    got = pd.read_parquet(tmp_path / "scored")
    assert_same_as_score(got, want, exact=False)
    loads = client.run(load_counts)
    assert sum(w.get(str(tiny_model.absolute()), 0) for w in loads.values()) <= 2


def test_a_worker_error_reaches_the_caller_as_one_line(client: Any, tmp_path: Path) -> None:
    ddf = dd.from_pandas(pd.DataFrame({"text": ["great fun", "awful"]}), npartitions=1)
    with pytest.raises(ArtifactError, match="no model folder at"):
        score_dataframe(ddf, tmp_path / "missing").compute()


# ---------------------------------------------------------------- partitions without a cluster


def test_values_that_are_no_text_get_an_error_and_no_model(tmp_path: Path) -> None:
    frame = pd.DataFrame({"text": [None, float("nan"), 7, pd.NA]}, dtype=object)
    # every value is missing or not a string, so the (missing) model is never loaded
    out = score_partition(frame, tmp_path / "missing", prefix="p_")
    assert strings(out["p_label"]) == [None] * 4
    assert np.isnan(out["p_score"].to_numpy()).all()
    assert strings(out["p_error"]) == ["the text ('text') is missing"] * 2 + [
        "the text ('text') is int, not a string", "the text ('text') is missing"]


def test_a_partition_keeps_its_index_and_columns(tiny_model: Path) -> None:
    model = SentimentModel.load(tiny_model)
    frame = pd.DataFrame({"n": [1, 2, 3], "Text ": ["great fun", "", None]}, index=[7, 5, 9])
    out = score_partition(frame, tiny_model, prefix="pred_")
    assert out.index.tolist() == [7, 5, 9] and out["n"].tolist() == [1, 2, 3]
    pred, empty = model.predict(["great fun", ""])  # read together, as the partition's are
    assert strings(out["pred_label"]) == [pred.label, None, None] and empty.label is None
    assert out["pred_score"].iloc[0] == np.float32(pred.score)
    assert strings(out["pred_error"]) == [None, NO_WORDS, "the text ('Text ') is missing"]
    meta = output_meta(frame.iloc[:0], prefix="pred_")
    assert meta.empty and meta.dtypes.to_dict() == out.dtypes.to_dict()


@pytest.mark.parametrize(("columns", "wanted", "prefix", "found"), [
    (["id", "review", "text"], None, "", "text"),
    (["id", "Review"], None, "", "Review"),
    (["body"], None, "", "body"),
    (["id", "body"], "body", "", "body"),
    (["id", "text", "label"], None, "pred_", "text"),
    ([0], None, "", 0), ([1, 0], 0, "", 0),  # pandas' names for a CSV read without a header
])
def test_the_text_column_is_scores(columns: list[Any], wanted: Any, prefix: str,
                                   found: Any) -> None:
    assert pick_text_column(columns, wanted, prefix) == found


@pytest.mark.parametrize(("columns", "wanted", "message"), [
    (["id", "body"], None, r"which column holds the text\? .* use text_column="),
    (["id", "body"], "text", "has no text column 'text'"),
    (["text", "score"], None, "already has a column named 'score'; give the new columns a "),
    (["text", "text"], None, "2 columns named 'text'"),
])
def test_the_text_column_errors(columns: list[str], wanted: str | None, message: str) -> None:
    with pytest.raises(UserError, match=message):
        pick_text_column(columns, wanted)


def test_the_package_face_imports_neither_dask_nor_pandas() -> None:
    code = ("import sys, lstm_sentiment; lstm_sentiment.load; "
            "print(sorted({'dask', 'distributed', 'pandas'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
