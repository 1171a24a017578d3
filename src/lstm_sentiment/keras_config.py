"""The layer configs of a Keras 2 tutorial model, checked: anything this package cannot reproduce
exactly is refused with a one-line :class:`UserError` (see :mod:`lstm_sentiment.keras_import`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from .errors import UserError

EXPECTED_LAYERS = ("TextVectorization", "Embedding", "LSTM", "Dense")
TUTORIAL_FUNCTION = "remove_br"  # the tutorial's custom standardization
FLOAT_DTYPES = ("float32", "float64")


@dataclass
class Layers:
    """The four layers' configs (InputLayer dropped) and their Keras class names in order."""

    text: dict[str, Any]
    embedding: dict[str, Any]
    lstm: dict[str, Any]
    dense: dict[str, Any]
    names: list[str]  # each layer's ``name`` from the config


def sequential_layers(config: Any, path: Path) -> list[dict[str, Any]]:
    """The Sequential's layer configs, without a leading InputLayer."""
    if isinstance(config, dict) and config.get("class_name") != "Sequential":
        raise UserError(f"{path}: expected a Keras Sequential model, found "
                        f"{config.get('class_name')!r}")
    if isinstance(config, dict):
        inner = config.get("config")
        layers = inner.get("layers") if isinstance(inner, dict) else inner  # old Keras: a list
    else:
        layers = None
    if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise UserError(f"{path}: the model config has no layer list")
    if layers and layers[0].get("class_name") == "InputLayer":
        layers = layers[1:]
    found = [str(x.get("class_name")) for x in layers]
    if tuple(found) != EXPECTED_LAYERS:
        raise UserError(f"{path}: expected a Sequential of {', '.join(EXPECTED_LAYERS)}; found "
                        f"{', '.join(found) or 'no layers'}")
    return layers


def check_layers(layers: list[dict[str, Any]]) -> Layers:
    cfgs = [x.get("config") if isinstance(x.get("config"), dict) else {} for x in layers]
    text, embedding, lstm, dense = cfgs
    _check_text(text)
    _check_embedding(embedding)
    _check_lstm(lstm)
    _check_dense(dense)
    return Layers(text, embedding, lstm, dense, [str(c.get("name", "")) for c in cfgs])


def _refuse(layer: str, setting: str, value: Any, why: str = "") -> NoReturn:
    raise UserError(f"unsupported Keras {layer} setting {setting}={short(value)}"
                    + (f": {why}" if why else ""))


def _check_text(cfg: dict[str, Any]) -> None:
    _check_standardize(cfg.get("standardize"))
    if cfg.get("split") != "whitespace":
        _refuse("TextVectorization", "split", cfg.get("split"), "only 'whitespace' is supported")
    if cfg.get("output_mode", "int") != "int":
        _refuse("TextVectorization", "output_mode", cfg.get("output_mode"),
                "only 'int' is supported")
    if cfg.get("ngrams") is not None:
        _refuse("TextVectorization", "ngrams", cfg.get("ngrams"), "only None is supported")
    if cfg.get("ragged"):
        _refuse("TextVectorization", "ragged", True, "only fixed-length output is supported")
    if cfg.get("encoding", "utf-8") not in ("utf-8", "UTF-8"):
        _refuse("TextVectorization", "encoding", cfg.get("encoding"), "only utf-8 is supported")
    length = cfg.get("output_sequence_length")
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        _refuse("TextVectorization", "output_sequence_length", length,
                "a fixed sequence length is needed (pad / truncate to N tokens)")


def _check_standardize(value: Any) -> None:
    name = value
    if isinstance(value, dict) and value.get("class_name") == "function":
        name = value.get("config")
    if not isinstance(name, str):
        _refuse("TextVectorization", "standardize", value,
                f"only the tutorial's {TUTORIAL_FUNCTION} function is supported")
    if name.rsplit(">", 1)[-1] == TUTORIAL_FUNCTION:  # "Custom>remove_br" or "remove_br"
        return
    if name == "lower_and_strip_punctuation":
        _refuse("TextVectorization", "standardize", name,
                "Keras's default keeps '<br />' as the word 'br', while this package's only "
                "standardization (the tutorial's remove_br) deletes it, so predictions would "
                "differ")
    if name in ("lower", "strip_punctuation"):
        _refuse("TextVectorization", "standardize", name,
                f"only the tutorial's {TUTORIAL_FUNCTION} function is supported")
    _refuse("TextVectorization", "standardize", name,
            "a file stores only a custom function's name, not its code; only the tutorial's "
            f"{TUTORIAL_FUNCTION} (lowercase, delete '<br />', delete punctuation) is supported")


def _check_dtype(layer: str, cfg: dict[str, Any]) -> None:
    dtype = cfg.get("dtype", "float32")
    if isinstance(dtype, dict):  # a dtype policy
        inner = dtype.get("config")
        dtype = inner.get("name") if isinstance(inner, dict) else inner
    if dtype not in FLOAT_DTYPES:
        _refuse(layer, "dtype", dtype, "only float32 computation is supported")


def _activation(value: Any) -> Any:
    if isinstance(value, dict):  # a serialized function
        return value.get("config")
    return value


def _check_embedding(cfg: dict[str, Any]) -> None:
    _check_dtype("Embedding", cfg)
    if cfg.get("mask_zero"):
        _refuse("Embedding", "mask_zero", True,
                "a masked LSTM is not what the tutorial trains (use mask_zero=False)")


def _check_lstm(cfg: dict[str, Any]) -> None:
    _check_dtype("LSTM", cfg)
    for flag in ("return_sequences", "return_state", "go_backwards", "stateful", "time_major"):
        if cfg.get(flag):
            _refuse("LSTM", flag, True, "only the plain last-state LSTM is supported")
    if _activation(cfg.get("activation", "tanh")) != "tanh":
        _refuse("LSTM", "activation", cfg.get("activation"), "only 'tanh' is supported")
    if _activation(cfg.get("recurrent_activation", "sigmoid")) != "sigmoid":
        _refuse("LSTM", "recurrent_activation", cfg.get("recurrent_activation"),
                "only 'sigmoid' is supported")
    if cfg.get("use_bias", True) is not True:
        _refuse("LSTM", "use_bias", cfg.get("use_bias"), "only use_bias=True is supported")


def _check_dense(cfg: dict[str, Any]) -> None:
    _check_dtype("Dense", cfg)
    if cfg.get("units") != 1:
        _refuse("Dense", "units", cfg.get("units"), "only one sigmoid output is supported")
    if _activation(cfg.get("activation")) != "sigmoid":
        _refuse("Dense", "activation", cfg.get("activation"), "only 'sigmoid' is supported")
    if cfg.get("use_bias", True) is not True:
        _refuse("Dense", "use_bias", cfg.get("use_bias"), "only use_bias=True is supported")


def short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
