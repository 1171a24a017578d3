"""Import a Keras 2 model of the tutorial's architecture, without TensorFlow.

Reads a ``Sequential([TextVectorization, Embedding, LSTM, Dense(1, sigmoid)])`` saved by Keras 2
(2.13 - 2.15) either as a ``.keras`` zip or as a legacy ``.h5`` file, using only ``zipfile``,
``json`` and ``h5py``, and returns a :class:`~lstm_sentiment.predict.SentimentModel` whose
probabilities match Keras's (float32 rounding only).

>>> from lstm_sentiment.keras_import import import_keras
>>> model = import_keras("tutorial.keras")               # doctest: +SKIP
>>> model.save("runs/imported")                          # doctest: +SKIP

Where Keras keeps things:

``.keras`` (zip)
    ``config.json`` (the layer list), ``metadata.json`` (``keras_version``), ``model.weights.h5``
    (``layers/<path>/vars/<i>``; the LSTM's under ``layers/<path>/cell/vars/<i>``) and, for an
    adapted TextVectorization, ``assets/layers/<path>/vocabulary.txt``. ``<path>`` is the layer's
    class name in snake case (``lstm``, ``dense``; ``dense_1`` for a second Dense), *not* its
    ``name`` (which varies: ``lstm_3``), so paths are derived from the config's layer order.
``.h5`` (legacy HDF5)
    root attribute ``model_config`` (JSON), ``model_weights`` with attribute ``layer_names``;
    each layer group lists its datasets in attribute ``weight_names``. Keras cannot save an
    adapted TextVectorization to ``.h5``, so the vocabulary must be in the config.

Anything this package cannot reproduce exactly is refused with a one-line :class:`UserError`
rather than approximated: another standardization (Keras's default
``lower_and_strip_punctuation`` keeps ``<br />`` as the word ``br``), another split, output mode
or ngrams, ``mask_zero=True``, an LSTM that is not the plain last-state tanh/sigmoid one, a
non-sigmoid head, mixed precision.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import ModelConfig, RunConfig, TextConfig
from .errors import UserError
from .keras_config import EXPECTED_LAYERS, Layers, check_layers, sequential_layers, short
from .lstm import from_keras
from .model import SentimentLSTM
from .predict import SentimentModel
from .text import PAD, UNK, TextEncoder

__all__ = ["import_keras"]

PRESET = "imported"
LABELS = ["negative", "positive"]
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with entries / an empty zip
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
KERAS_MASK, KERAS_OOV = "", "[UNK]"  # Keras's names for our PAD and UNK


@dataclass
class _Weights:
    """Keras arrays, float32, in Keras's layouts."""

    embeddings: np.ndarray  # [N, E], N >= vocabulary size
    kernel: np.ndarray  # [E, 4H]
    recurrent_kernel: np.ndarray  # [H, 4H]
    lstm_bias: np.ndarray  # [4H] (zeros for use_bias=False)
    dense_kernel: np.ndarray  # [H, 1]
    dense_bias: np.ndarray  # [1] (zeros for use_bias=False)


def import_keras(path: str | Path) -> SentimentModel:
    """Load a Keras 2 ``.keras`` or ``.h5`` file of the tutorial's model as a SentimentModel.

    The format is detected from the file's first bytes (zip or HDF5), not from its suffix.
    The imported model reads trailing padding the way Keras's LSTM does (``mask_padding=False``),
    so its probabilities equal Keras's to float32 rounding. Raises :class:`UserError` (one line)
    for a missing or unreadable file and for any layer or setting that cannot be reproduced.
    """
    path = Path(path)
    fmt = _detect_format(path)
    reader = _read_keras_zip if fmt == "keras" else _read_h5
    layers, weights, raw_vocab, keras_version = reader(path)
    vocab = _our_vocabulary(raw_vocab)
    text_cfg = TextConfig(standardize="tutorial", max_tokens=len(vocab),
                          sequence_length=int(layers.text["output_sequence_length"]))
    network, model_cfg = _network(weights, len(vocab))
    config = RunConfig(preset=PRESET, text=text_cfg, model=model_cfg)
    encoder = TextEncoder.from_vocabulary(vocab, text_cfg)
    source: dict[str, Any] = {"file": path.name, "format": fmt}
    if keras_version:
        source["keras_version"] = keras_version
    source["sha256"] = _sha256(path)
    return SentimentModel(network, encoder, config, list(LABELS), history=[],
                          info={"imported_from": source})


# ------------------------------------------------------------------------------ file formats


def _detect_format(path: Path) -> str:
    if path.is_dir():
        if (path / "saved_model.pb").exists():
            raise UserError(f"{path} is a TensorFlow SavedModel folder, which is not supported; "
                            "in Keras, save the model with model.save('model.keras')")
        raise UserError(f"{path} is a folder, not a Keras .keras or .h5 file")
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise UserError(f"no such file: {path}") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head[:4] in ZIP_MAGICS:
        return "keras"
    if head == HDF5_MAGIC or _is_hdf5(path):  # HDF5 may sit after a user block
        return "h5"
    raise UserError(f"{path} is neither a Keras .keras file (zip) nor an .h5 file (HDF5)")


def _is_hdf5(path: Path) -> bool:
    import h5py

    try:
        return bool(h5py.is_hdf5(str(path)))
    except OSError:
        return False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_keras_zip(path: Path) -> tuple[Layers, _Weights, list[str], str | None]:
    import h5py

    try:
        with zipfile.ZipFile(path) as zf:
            members = set(zf.namelist())
            if "config.json" not in members:
                raise UserError(f"{path} is a zip without config.json: not a Keras .keras file")
            config = _json(zf.read("config.json"), f"{path}: config.json")
            keras_version = None
            if "metadata.json" in members:
                meta = _json(zf.read("metadata.json"), f"{path}: metadata.json")
                if isinstance(meta, dict) and meta.get("keras_version") is not None:
                    keras_version = str(meta["keras_version"])
            layers = check_layers(sequential_layers(config, path))
            if "model.weights.h5" not in members:
                raise UserError(f"{path} has no model.weights.h5 (an unsupported .keras layout)")
            weights_blob = zf.read("model.weights.h5")
            paths = _zip_layer_paths(layers)
            try:
                with h5py.File(io.BytesIO(weights_blob), "r") as h5:
                    weights = _zip_weights(h5, paths, layers, path)
            except OSError as exc:
                raise UserError(f"{path}: model.weights.h5 is not readable HDF5: {exc}") from None
            raw_vocab = _zip_vocabulary(zf, members, layers, paths[0], path)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as exc:
        raise UserError(f"{path} is not a readable zip: {exc}") from None
    return layers, weights, raw_vocab, keras_version


def _read_h5(path: Path) -> tuple[Layers, _Weights, list[str], str | None]:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            if "model_config" not in h5.attrs:
                raise UserError(f"{path} holds weights only (no model config); in Keras, save the "
                                "whole model with model.save(...)")
            config = _json(_attr_str(h5.attrs["model_config"]), f"{path}: model_config")
            version = h5.attrs.get("keras_version")
            keras_version = _attr_str(version) if version is not None else None
            layers = check_layers(sequential_layers(config, path))
            raw_vocab = layers.text.get("vocabulary")
            if raw_vocab is None:
                raise UserError(
                    f"{path} has no vocabulary: Keras cannot save an adapted TextVectorization to "
                    ".h5, so the vocabulary must be in the config (build the layer with "
                    "TextVectorization(vocabulary=...) or save the model as .keras)")
            if not isinstance(raw_vocab, list):
                raise UserError(f"{path}: the TextVectorization vocabulary is "
                                f"{short(raw_vocab)}, not a list of tokens (a vocabulary file "
                                "outside the model is not supported)")
            weights = _h5_weights(h5, layers, path)
    except OSError as exc:
        raise UserError(f"{path} is not a readable HDF5 file: {exc}") from None
    return layers, weights, [str(t) for t in raw_vocab], keras_version


def _json(blob: bytes | str, what: str) -> Any:
    try:
        return json.loads(blob)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{what} is not valid JSON: {exc}") from None


def _attr_str(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _attr_str(value.item())
    return str(value)


def _attr_strings(value: Any) -> list[str]:
    return [_attr_str(v) for v in np.asarray(value).ravel().tolist()]


# ------------------------------------------------------------------------------ weights


def _snake_case(name: str) -> str:
    """Keras's ``to_snake_case`` (the name a layer gets inside a .keras zip)."""
    intermediate = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    insecure = re.sub("([a-z])([A-Z])", r"\1_\2", intermediate).lower()
    return insecure if insecure[:1] != "_" else "private" + insecure


def _zip_layer_paths(layers: Layers) -> list[list[str]]:
    """For each layer, the candidate group paths inside model.weights.h5 (best first).

    Keras 2.13+ names a layer's group after its class in snake case, numbering repeats
    (``dense``, ``dense_1``) in layer order; the layer's ``name`` is a fallback.
    """
    used: dict[str, int] = {}
    paths = []
    for cls, name in zip(EXPECTED_LAYERS, layers.names, strict=True):
        key = _snake_case(cls)
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        candidates = [f"layers/{key}"]
        if name and f"layers/{name}" not in candidates:
            candidates.append(f"layers/{name}")
        paths.append(candidates)
    return paths


def _zip_weights(h5: Any, paths: list[list[str]], layers: Layers, path: Path) -> _Weights:
    def arrays(index: int, cell: bool) -> list[np.ndarray]:
        for group_path in paths[index]:
            if group_path not in h5:
                continue
            group = h5[group_path]
            subs = ["cell/vars", "vars"] if cell else ["vars"]
            for sub in subs:
                if sub in group and len(group[sub]):
                    var_group = group[sub]
                    keys = sorted(var_group, key=lambda k: int(k) if k.isdigit() else 1 << 30)
                    return [_float_array(var_group[k], f"{group_path}/{sub}/{k}") for k in keys]
            return []
        raise UserError(f"{path}: model.weights.h5 has no weights for layer "
                        f"{layers.names[index]!r} (looked for {', '.join(paths[index])})")

    emb = arrays(1, cell=False)
    lstm = arrays(2, cell=True)
    dense = arrays(3, cell=False)
    return _weights(emb, lstm, dense, layers, path)


def _h5_weights(h5: Any, layers: Layers, path: Path) -> _Weights:
    root = h5.get("model_weights")
    if root is None or "layer_names" not in root.attrs:
        raise UserError(f"{path} has no model_weights/layer_names: not a Keras .h5 model file")
    stored = _attr_strings(root.attrs["layer_names"])

    def arrays(index: int) -> list[np.ndarray]:
        name = layers.names[index]
        if name not in stored or name not in root:
            raise UserError(f"{path}: no weights for layer {name!r} "
                            f"(the file has weights for {', '.join(stored) or 'no layers'})")
        group = root[name]
        names = _attr_strings(group.attrs.get("weight_names", []))
        out = []
        for weight_name in names:
            if weight_name not in group:
                raise UserError(f"{path}: weight {name}/{weight_name} is listed but missing")
            out.append(_float_array(group[weight_name], f"{name}/{weight_name}"))
        return out

    return _weights(arrays(1), arrays(2), arrays(3), layers, path)


def _float_array(dataset: Any, what: str) -> np.ndarray:
    data = np.asarray(dataset[()])
    if not np.issubdtype(data.dtype, np.floating):
        raise UserError(f"weight {what} has dtype {data.dtype}, expected floating point")
    return data.astype(np.float32)


def _weights(emb: list[np.ndarray], lstm: list[np.ndarray], dense: list[np.ndarray],
             layers: Layers, path: Path) -> _Weights:
    for layer, got, want in (("Embedding", emb, 1), ("LSTM", lstm, 3), ("Dense", dense, 2)):
        if len(got) != want:
            raise UserError(f"{path}: the {layer} layer has {len(got)} weight arrays, "
                            f"expected {want}")
    (embeddings,), (kernel, recurrent, bias), (dense_kernel, dense_bias) = emb, lstm, dense
    if embeddings.ndim != 2:
        raise UserError(f"{path}: Embedding weights have shape {embeddings.shape}, expected 2-D")
    e = embeddings.shape[1]
    h = recurrent.shape[0] if recurrent.ndim == 2 else -1
    expected = (("LSTM kernel", kernel, (e, 4 * h)),
                ("LSTM recurrent kernel", recurrent, (h, 4 * h)),
                ("LSTM bias", bias, (4 * h,)),
                ("Dense kernel", dense_kernel, (h, 1)),
                ("Dense bias", dense_bias, (1,)))
    for what, array, shape in expected:
        if array.shape != shape:
            raise UserError(f"{path}: {what} has shape {array.shape}, expected {shape}")
    units = layers.lstm.get("units")
    if units is not None and units != h:
        raise UserError(f"{path}: the LSTM config says {units} units but its weights have {h}")
    return _Weights(embeddings, kernel, recurrent, bias, dense_kernel, dense_bias)


# ------------------------------------------------------------------------------ vocabulary


def _zip_vocabulary(zf: zipfile.ZipFile, members: set[str], layers: Layers,
                    text_paths: list[str], path: Path) -> list[str]:
    """The adapted vocabulary from assets/.../vocabulary.txt, or the config's list."""
    candidates = [f"assets/{p}/{sub}vocabulary.txt"
                  for p in text_paths for sub in ("", "_lookup_layer/")]
    for name in candidates:
        if name in members:
            try:
                text = zf.read(name).decode("utf-8")
            except UnicodeDecodeError:
                raise UserError(f"{path}: {name} is not UTF-8") from None
            # Keras reads this file in text mode (universal newlines: "\r\n" and "\r" become
            # "\n") and splits on "\n" only: tokens may hold U+0085, U+2028, ... (no splitlines).
            return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    configured = layers.text.get("vocabulary")
    if isinstance(configured, list):
        return [str(t) for t in configured]
    if configured is not None:
        raise UserError(f"{path}: the TextVectorization vocabulary is {short(configured)}, not "
                        "a list of tokens (a vocabulary file outside the model is not supported)")
    raise UserError(f"{path} has no TextVectorization vocabulary (looked for {candidates[0]}); "
                    "was the layer adapted before saving?")


def _our_vocabulary(raw: list[str]) -> list[str]:
    """Keras's vocabulary -> ours: ``""`` and ``[UNK]`` become ``[PAD]`` and ``[UNK]``.

    Like Keras's ``set_vocabulary``: the special tokens are either both at the front or absent
    (then added), and may not appear anywhere else.
    """
    start = 2 if raw[:2] == [KERAS_MASK, KERAS_OOV] else 0
    tokens = raw[start:]
    for special, shown in ((KERAS_MASK, "the mask token ''"), (KERAS_OOV, "[UNK]")):
        if special in tokens:
            raise UserError(f"the Keras vocabulary has {shown} at position "
                            f"{start + tokens.index(special)}; it may only come first")
    if len(set(tokens)) != len(tokens):
        repeated = sorted({t for t in tokens if tokens.count(t) > 1})[:3]
        raise UserError(f"the Keras vocabulary repeats tokens {repeated}")
    if PAD in tokens:
        raise UserError(f"the Keras vocabulary contains the token {PAD!r}, which this package "
                        "reserves for padding")
    return [PAD, UNK, *tokens]


# ------------------------------------------------------------------------------ network


def _network(weights: _Weights, vocab_size: int) -> tuple[SentimentLSTM, ModelConfig]:
    rows, embedding_dim = weights.embeddings.shape
    if rows < vocab_size:
        raise UserError(f"the Embedding has {rows} rows but the vocabulary has {vocab_size} "
                        "tokens")
    hidden = weights.recurrent_kernel.shape[0]
    config = ModelConfig(vocab_size=vocab_size, embedding_dim=embedding_dim, hidden_size=hidden,
                         num_classes=2, lstm="fused", mask_padding=False)
    network = SentimentLSTM(config)
    # Rows past the vocabulary (e.g. Embedding(max_tokens + 1, ...)) are never looked up.
    state = {"embedding.weight": torch.from_numpy(weights.embeddings[:vocab_size].copy())}
    lstm = from_keras(weights.kernel, weights.recurrent_kernel, weights.lstm_bias)
    state.update({f"lstm.{name}": tensor for name, tensor in lstm.items()})
    state["head.weight"] = torch.from_numpy(weights.dense_kernel.T.copy())
    state["head.bias"] = torch.from_numpy(weights.dense_bias.copy())
    network.load_state_dict(state, strict=True)
    return network.eval(), config
