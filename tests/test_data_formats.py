"""data.py beyond IMDB folders: CSV/TSV/JSONL tables and plain folder-per-class layouts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lstm_sentiment import data
from lstm_sentiment.errors import DataError

ROWS = [("great fun", "pos"), ("awful, boring", "neg"), ("loved it", "pos"),
        ("worst ever", "neg"), ("superb", "pos"), ("dull", "neg"), ("brilliant", "pos"),
        ("waste of time", "neg")]


def write_csv(path: Path, rows: list[tuple[str, str]], sep: str = ",",
              header: str = "text,label") -> Path:
    lines = [header.replace(",", sep)] + [f'"{t}"{sep}{y}' for t, y in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_tsv_and_jsonl_give_the_same_dataset(tmp_path: Path) -> None:
    csv_path = write_csv(tmp_path / "r.csv", ROWS)
    tsv_path = write_csv(tmp_path / "r.tsv", ROWS, sep="\t")
    jsonl_path = tmp_path / "r.jsonl"
    jsonl_path.write_text("".join(json.dumps({"review": t, "sentiment": y}) + "\n"
                                  for t, y in ROWS))
    loaded = []
    for path in (csv_path, tsv_path, jsonl_path):
        assert data.fetch(str(path)) == path  # a table is its own source
        train = data.load(path, "train")
        val = data.load(path, "validation")
        assert train.class_names == ["neg", "pos"]
        assert len(train) == 6 and len(val) == 2
        assert not set(train.texts) & set(val.texts)
        loaded.append(sorted(zip([*train.texts, *val.texts],
                                 [*train.labels.tolist(), *val.labels.tolist()], strict=True)))
    assert loaded[0] == loaded[1] == loaded[2]
    assert dict(loaded[0])["great fun"] == 1  # pos sorts after neg


def test_default_fields_match_loosely(tmp_path: Path) -> None:
    # headers written by hand: case and surrounding spaces do not matter when one field matches
    path = write_csv(tmp_path / "r.csv", ROWS, header=" Review,Sentiment ")
    ds = data.load(path, "test")
    assert list(ds.texts)[:2] == ["great fun", "awful, boring"]
    assert ds.class_names == ["neg", "pos"]
    twice = write_csv(tmp_path / "t.csv", ROWS, header="Text,text ,label")
    with pytest.raises(DataError, match="which column holds the text"):
        data.load(twice, "test")  # two loose matches and no exact one: ambiguous


def test_chosen_fields_and_any_class_names(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("id,body,stars\n1,good,five\n2,bad,one\n3,fine,three\n4,meh,one\n")
    ds = data.load(path, "test", text_field="body", label_field="stars")
    assert ds.class_names == ["five", "one", "three"]
    assert list(ds.texts) == ["good", "bad", "fine", "meh"]
    assert ds.ids == ["r.csv:2", "r.csv:3", "r.csv:4", "r.csv:5"]


@pytest.mark.parametrize(("content", "kwargs", "message"), [
    ("text,label\n", {}, "has no rows"),
    ("", {}, "has no rows"),
    ("words,label\nhi,pos\nho,neg\n", {}, "which column holds the text"),
    ("text,label\nhi,pos\nho,neg\n", {"text_field": "body"}, "no text column 'body'"),
    ("text,label\nhi,pos\nho,pos\n", {}, "only one class ('pos')"),
    ("text,label\nhi,pos\nho,\n", {}, "r.csv:3: the 'label' field is missing or empty"),
])
def test_bad_tables(tmp_path: Path, content: str, kwargs: dict, message: str) -> None:
    path = tmp_path / "r.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        data.load(path, "train", **kwargs)


def test_bad_jsonl_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", \n')
    with pytest.raises(DataError, match=r"r.jsonl:2: invalid JSON"):
        data.load(path, "train")
    path.write_text('{"text": "a", "label": "x"}\n[1, 2]\n')
    with pytest.raises(DataError, match="expected a JSON object"):
        data.load(path, "train")
    path.write_text('{"text": null, "label": "x"}\n{"text": "b", "label": "y"}\n')
    with pytest.raises(DataError, match=r"r.jsonl:1: 'text' is null, not a string"):
        data.load(path, "train")


def test_test_table_with_an_unknown_label(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", [("fine", "neutral"), ("good", "pos")])
    with pytest.raises(DataError, match="label 'neutral' is not one of neg, pos"):
        data.load(path, "test", class_names=["neg", "pos"])


def test_folder_per_class_without_train_and_test(tmp_path: Path) -> None:
    for cls, texts in {"happy": ["yay", "great", "fun", "joy"],
                       "sad": ["boo", "awful", "dull", "meh"]}.items():
        (tmp_path / "d" / cls).mkdir(parents=True)
        for i, t in enumerate(texts):
            (tmp_path / "d" / cls / f"{i}.txt").write_text(t)
    root = data.fetch(str(tmp_path / "d"))
    assert root == tmp_path / "d"
    train = data.load(root, "train")
    assert train.class_names == ["happy", "sad"] and len(train) == 6
    assert all("/" in i and not i.startswith("train/") for i in train.ids)
    with pytest.raises(DataError, match="no test/ folder"):
        data.load(root, "test")


def test_train_and_evaluate_on_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import random

    from conftest import NEGATIVE, POSITIVE

    from lstm_sentiment import SentimentModel
    from lstm_sentiment.cli import main

    rng = random.Random(3)

    def rows(n: int) -> list[tuple[str, str]]:
        out = []
        for i in range(n):
            label = "good" if i % 2 else "bad"
            words = rng.choices(POSITIVE if label == "good" else NEGATIVE, k=4)
            out.append((" ".join([*words, "film"]), label))
        return out

    train = write_csv(tmp_path / "train.csv", rows(60), header="review,verdict")
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps({"review": t, "verdict": y}) + "\n" for t, y in rows(10)))
    out = tmp_path / "m"
    code = main(["-q", "train", "--source", str(train), "--test-source", str(test),
                 "--label-field", "verdict", "--out", str(out), "--epochs", "1"])
    printed = capsys.readouterr().out
    assert code == 0 and "test: accuracy" in printed
    model = SentimentModel.load(out)
    assert model.labels == ["bad", "good"] and model.info["metrics"]["test"]["n"] == 10
    code = main(["evaluate", str(out), "--source", str(test), "--json"])
    metrics = json.loads(capsys.readouterr().out)
    assert code == 0 and metrics["n"] == 10 and metrics["labels"] == ["bad", "good"]
