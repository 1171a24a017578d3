"""Importing Keras 2 ``.keras`` / ``.h5`` files of the tutorial's model (no TensorFlow)."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from lstm_sentiment.errors import UserError
from lstm_sentiment.keras_import import import_keras
from lstm_sentiment.predict import SentimentModel

FIXTURES = Path(__file__).parent / "fixtures" / "keras"
KERAS_FILE = FIXTURES / "tutorial_small.keras"
H5_FILE = FIXTURES / "tutorial_small.h5"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
VOCAB_ASSETS = ("assets/layers/text_vectorization/vocabulary.txt",
                "assets/layers/text_vectorization/_lookup_layer/vocabulary.txt")

Config = dict[str, Any]


def keras_probabilities(model: SentimentModel) -> np.ndarray:
    """p(positive) as Keras computes it: of each text's first sequence_length tokens."""
    return model.read(EXPECTED["texts"], whole=False).probabilities[:, 1]


def rewrite_keras(tmp_path: Path, *, config: Callable[[Config], None] | None = None,
                  replace: dict[str, bytes] | None = None, drop: tuple[str, ...] = (),
                  name: str = "edited.keras") -> Path:
    """A copy of the .keras fixture with config.json edited / entries replaced or dropped."""
    out = tmp_path / name
    replace = dict(replace or {})
    with zipfile.ZipFile(KERAS_FILE) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename in drop:
                continue
            data = src.read(info.filename)
            if info.filename == "config.json" and config is not None:
                cfg = json.loads(data)
                config(cfg)
                data = json.dumps(cfg).encode()
            dst.writestr(info.filename, replace.pop(info.filename, data))
        for filename, data in replace.items():
            dst.writestr(filename, data)
    return out


def rewrite_h5(tmp_path: Path, edit: Callable[[h5py.File], None],
               name: str = "edited.h5") -> Path:
    out = tmp_path / name
    shutil.copyfile(H5_FILE, out)
    with h5py.File(out, "r+") as f:
        edit(f)
    return out


def edit_h5_config(edit: Callable[[Config], None]) -> Callable[[h5py.File], None]:
    def apply(f: h5py.File) -> None:
        cfg = json.loads(f.attrs["model_config"])
        edit(cfg)
        f.attrs["model_config"] = json.dumps(cfg)

    return apply


def layer(cfg: Config, class_name: str) -> Config:
    return next(x["config"] for x in cfg["config"]["layers"] if x["class_name"] == class_name)


def set_layer(class_name: str, key: str, value: Any) -> Callable[[Config], None]:
    def edit(cfg: Config) -> None:
        layer(cfg, class_name)[key] = value

    return edit


def vocab_bytes(tokens: list[str], newline: str = "\n") -> bytes:
    return newline.join(tokens).encode("utf-8")


def expect_error(path: Path, match: str) -> UserError:
    with pytest.raises(UserError, match=match) as info:
        import_keras(path)
    assert "\n" not in str(info.value)
    return info.value


# ----------------------------------------------------------------------------- the fixtures


@pytest.mark.parametrize(("path", "fmt"), [(KERAS_FILE, "keras"), (H5_FILE, "h5")])
def test_fixture_matches_keras(path: Path, fmt: str) -> None:
    model = import_keras(path)
    np.testing.assert_allclose(keras_probabilities(model), EXPECTED["probabilities"],
                               atol=1e-5, rtol=0)
    ids = model.encoder.encode(EXPECTED["texts"])
    np.testing.assert_array_equal(ids, np.array(EXPECTED["encoded"]))
    assert model.encoder.vocabulary == ["[PAD]", *EXPECTED["vocabulary"][1:]]
    cfg = model.config
    assert cfg.preset == "imported"
    assert cfg.text.standardize == "tutorial"
    assert cfg.text.sequence_length == EXPECTED["sequence_length"]
    assert cfg.text.max_tokens == cfg.model.vocab_size == len(EXPECTED["vocabulary"])
    assert (cfg.model.embedding_dim, cfg.model.hidden_size) == (16, 32)
    assert cfg.model.mask_padding is False
    assert model.labels == ["negative", "positive"]
    source = model.info["imported_from"]
    assert source["file"] == path.name
    assert source["format"] == fmt
    assert source["keras_version"] == EXPECTED["keras_version"]


def test_save_and_reload_keeps_probabilities(tmp_path: Path) -> None:
    model = import_keras(KERAS_FILE)
    model.save(tmp_path / "imported")
    loaded = SentimentModel.load(tmp_path / "imported")
    np.testing.assert_array_equal(loaded.predict_proba(EXPECTED["texts"]),
                                  model.predict_proba(EXPECTED["texts"]))
    assert loaded.config == model.config
    assert loaded.labels == model.labels
    assert loaded.info["imported_from"] == model.info["imported_from"]


def test_format_is_detected_by_content_not_suffix(tmp_path: Path) -> None:
    zip_as_h5 = tmp_path / "really_a_zip.h5"
    h5_as_keras = tmp_path / "really_hdf5.keras"
    shutil.copyfile(KERAS_FILE, zip_as_h5)
    shutil.copyfile(H5_FILE, h5_as_keras)
    assert import_keras(zip_as_h5).info["imported_from"]["format"] == "keras"
    assert import_keras(str(h5_as_keras)).info["imported_from"]["format"] == "h5"


# ----------------------------------------------------------------------------- real-world variation


def test_keras_zip_with_other_layer_names(tmp_path: Path) -> None:
    """Inside the zip, groups are named after the class (lstm), not the layer name (lstm_3)."""

    def rename(cfg: Config) -> None:
        for i, x in enumerate(cfg["config"]["layers"]):
            x["config"]["name"] = f"{x['config']['name']}_{i + 1}"

    model = import_keras(rewrite_keras(tmp_path, config=rename))
    np.testing.assert_allclose(keras_probabilities(model), EXPECTED["probabilities"], atol=1e-5)


def test_h5_with_other_layer_names(tmp_path: Path) -> None:
    """Weights are found through layer_names / weight_names, whatever the layers are called."""
    renames = {"text_vectorization": "text_vectorization_2", "embedding": "embedding_1",
               "lstm": "lstm_3", "dense": "dense_7"}

    def edit(f: h5py.File) -> None:
        root = f["model_weights"]
        for old, new in renames.items():
            root.move(old, new)
            group = root[new]
            if old in group:
                group.move(old, new)
            names = [n.decode() if isinstance(n, bytes) else str(n)
                     for n in group.attrs["weight_names"]]
            group.attrs["weight_names"] = [new + n[len(old):] for n in names]
        root.attrs["layer_names"] = list(renames.values())
        cfg = json.loads(f.attrs["model_config"])
        for x in cfg["config"]["layers"]:
            x["config"]["name"] = renames.get(x["config"]["name"], x["config"]["name"])
        f.attrs["model_config"] = json.dumps(cfg)

    model = import_keras(rewrite_h5(tmp_path, edit))
    np.testing.assert_allclose(keras_probabilities(model), EXPECTED["probabilities"], atol=1e-5)


def test_vocabulary_file_is_split_on_newline_only(tmp_path: Path) -> None:
    tokens = list(EXPECTED["vocabulary"])
    tokens[5] = "o\u2028f\x85x"  # separators that str.splitlines() would split on
    data = vocab_bytes(tokens)
    model = import_keras(rewrite_keras(tmp_path, replace=dict.fromkeys(VOCAB_ASSETS, data)))
    assert model.encoder.vocab_size == len(tokens)
    assert model.encoder.vocabulary[5] == tokens[5]


def test_vocabulary_file_with_windows_newlines(tmp_path: Path) -> None:
    data = vocab_bytes(EXPECTED["vocabulary"], newline="\r\n")
    model = import_keras(rewrite_keras(tmp_path, replace=dict.fromkeys(VOCAB_ASSETS, data)))
    np.testing.assert_allclose(keras_probabilities(model), EXPECTED["probabilities"], atol=1e-5)


def test_embedding_rows_beyond_the_vocabulary_are_dropped(tmp_path: Path) -> None:
    """Like the tutorial's Embedding(max_features + 1, ...): extra rows are never looked up."""
    data = vocab_bytes(EXPECTED["vocabulary"][:50])
    model = import_keras(rewrite_keras(tmp_path, replace=dict.fromkeys(VOCAB_ASSETS, data)))
    assert model.config.model.vocab_size == 50
    assert model.network.embedding.weight.shape == (50, 16)


# ----------------------------------------------------------------------------- refusals


def test_missing_file(tmp_path: Path) -> None:
    expect_error(tmp_path / "nope.keras", "no such file")


def test_folder(tmp_path: Path) -> None:
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "saved_model.pb").write_bytes(b"")
    expect_error(tmp_path / "saved", "SavedModel")


def test_text_file_renamed_h5(tmp_path: Path) -> None:
    fake = tmp_path / "model.h5"
    fake.write_text("this is not a model\n")
    expect_error(fake, r"neither a Keras \.keras file \(zip\) nor an \.h5 file \(HDF5\)")


def test_zip_without_config(tmp_path: Path) -> None:
    expect_error(rewrite_keras(tmp_path, drop=("config.json",)), "zip without config.json")


def test_extra_layer(tmp_path: Path) -> None:
    def add_dense(cfg: Config) -> None:
        layers = cfg["config"]["layers"]
        layers.insert(4, json.loads(json.dumps(layers[4])))

    expect_error(rewrite_keras(tmp_path, config=add_dense),
                 "expected a Sequential of TextVectorization, Embedding, LSTM, Dense; "
                 "found TextVectorization, Embedding, LSTM, Dense, Dense")


def test_not_sequential(tmp_path: Path) -> None:
    def functional(cfg: Config) -> None:
        cfg["class_name"] = "Functional"

    expect_error(rewrite_keras(tmp_path, config=functional),
                 "expected a Keras Sequential model, found 'Functional'")


@pytest.mark.parametrize(("edit", "match"), [
    (set_layer("LSTM", "return_sequences", True), "LSTM setting return_sequences=true"),
    (set_layer("LSTM", "go_backwards", True), "LSTM setting go_backwards=true"),
    (set_layer("LSTM", "recurrent_activation", "hard_sigmoid"),
     "recurrent_activation='hard_sigmoid'"),
    (set_layer("LSTM", "activation", "relu"), "LSTM setting activation='relu'"),
    (set_layer("LSTM", "use_bias", False), "LSTM setting use_bias=false"),
    (set_layer("Dense", "activation", "linear"), "Dense setting activation='linear'"),
    (set_layer("Embedding", "mask_zero", True), "Embedding setting mask_zero=true"),
    (set_layer("TextVectorization", "standardize", "lower_and_strip_punctuation"),
     "standardize='lower_and_strip_punctuation'.*keeps '<br />' as the word 'br'"),
    (set_layer("TextVectorization", "standardize",
               {"module": "builtins", "class_name": "function",
                "config": "custom_standardization", "registered_name": "function"}),
     "standardize='custom_standardization'.*only a custom function's name"),
    (set_layer("TextVectorization", "standardize", None), "standardize=null"),
    (set_layer("TextVectorization", "split", "character"), "split='character'"),
    (set_layer("TextVectorization", "output_mode", "multi_hot"), "output_mode='multi_hot'"),
    (set_layer("TextVectorization", "ngrams", 2), "ngrams=2"),
    (set_layer("TextVectorization", "output_sequence_length", None),
     "output_sequence_length=null"),
    (set_layer("LSTM", "dtype", {"module": "keras.mixed_precision", "class_name": "Policy",
                                 "config": {"name": "mixed_float16"}}),
     "dtype='mixed_float16'"),
])
def test_unsupported_settings(tmp_path: Path, edit: Callable[[Config], None],
                              match: str) -> None:
    expect_error(rewrite_keras(tmp_path, config=edit), match)


def test_h5_refuses_the_same_settings(tmp_path: Path) -> None:
    path = rewrite_h5(tmp_path, edit_h5_config(set_layer("LSTM", "return_sequences", True)))
    expect_error(path, "return_sequences")


def test_h5_without_vocabulary(tmp_path: Path) -> None:
    path = rewrite_h5(tmp_path, edit_h5_config(set_layer("TextVectorization", "vocabulary", None)))
    expect_error(path, "Keras cannot save an adapted TextVectorization to .h5")


def test_h5_weights_only(tmp_path: Path) -> None:
    def drop_config(f: h5py.File) -> None:
        del f.attrs["model_config"]

    expect_error(rewrite_h5(tmp_path, drop_config), "weights only")


def test_vocabulary_longer_than_embedding(tmp_path: Path) -> None:
    data = vocab_bytes([*EXPECTED["vocabulary"], "extra"])
    path = rewrite_keras(tmp_path, replace=dict.fromkeys(VOCAB_ASSETS, data))
    expect_error(path, "the Embedding has 60 rows but the vocabulary has 61 tokens")


def test_vocabulary_with_misplaced_mask_token(tmp_path: Path) -> None:
    tokens = list(EXPECTED["vocabulary"])
    tokens[7] = ""
    path = rewrite_keras(tmp_path, replace=dict.fromkeys(VOCAB_ASSETS, vocab_bytes(tokens)))
    expect_error(path, "mask token '' at position 7")


def test_keras_zip_without_vocabulary(tmp_path: Path) -> None:
    expect_error(rewrite_keras(tmp_path, drop=VOCAB_ASSETS), "has no TextVectorization vocabulary")


def test_import_keras_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lstm_sentiment.cli import main

    out = tmp_path / "imported"
    assert main(["import-keras", str(FIXTURES / "tutorial_small.keras"), "--out", str(out)]) == 0
    expected = json.loads((FIXTURES / "expected.json").read_text())
    got = SentimentModel.load(out).read(expected["texts"], whole=False).probabilities[:, 1]
    np.testing.assert_allclose(got, expected["probabilities"], atol=1e-5, rtol=0)
    capsys.readouterr()
    code = main(["import-keras", str(FIXTURES / "tutorial_small.h5"), "--out", str(out)])
    assert code == 2 and "already holds a trained model" in capsys.readouterr().err
    code = main(["import-keras", str(tmp_path / "missing.keras"), "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
