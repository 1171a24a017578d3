"""The model folder: what a trained model is on disk, and nothing that can run code.

::

    config.json        format version, RunConfig, labels, metrics, data digests, library versions
    tokenizer.json     Hugging Face tokenizers file (standardization + vocabulary + length)
    model.safetensors  weights only
    history.json       per-epoch metrics
    checksums.json     sha256 of each file above; verified on every load

Every file is written atomically and ``checksums.json`` last, so a folder is either complete and
consistent or refused on load. Loading reads JSON and safetensors only (no pickle, no code), and
any other file in the folder is ignored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from .config import RunConfig
from .errors import ArtifactError, UserError
from .fileio import atomic_write_bytes, atomic_write_text

FORMAT = "lstm-sentiment/model"
FORMAT_VERSION = 1
FILES = ("config.json", "tokenizer.json", "model.safetensors", "history.json")
CHECKSUMS = "checksums.json"
BUNDLED = "bundled"  # the name of the model folder shipped inside the package
BUNDLED_DIR = Path(__file__).parent / "bundled"


@dataclass
class Artifact:
    """The parsed contents of a model folder."""

    config: RunConfig
    labels: list[str]
    tokenizer_json: str
    weights: dict[str, torch.Tensor]
    history: list[dict[str, float]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)  # metrics, digests, versions, ...


def _versions() -> dict[str, str]:
    import numpy
    import safetensors
    import tokenizers

    from ._version import __version__

    return {"lstm_sentiment": __version__, "torch": torch.__version__,
            "tokenizers": tokenizers.__version__, "safetensors": safetensors.__version__,
            "numpy": numpy.__version__}


def save_folder(path: Path, artifact: Artifact) -> None:
    """Write ``artifact`` into ``path`` (created if needed; other files are left alone)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create model folder {path}: {exc.strerror}") from None
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **artifact.config.to_dict(),
        "labels": artifact.labels,
        **artifact.info,
        "versions": _versions(),
    }
    blobs = {
        "config.json": json.dumps(config, indent=2).encode(),
        "tokenizer.json": artifact.tokenizer_json.encode(),
        "model.safetensors": save({k: v.detach().contiguous().cpu()
                                   for k, v in artifact.weights.items()},
                                  metadata={"format": FORMAT}),
        "history.json": json.dumps({"epochs": artifact.history}, indent=2).encode(),
    }
    try:
        for name, blob in blobs.items():
            atomic_write_bytes(path / name, blob)
        sums = {name: hashlib.sha256(blob).hexdigest() for name, blob in blobs.items()}
        atomic_write_text(path / CHECKSUMS, json.dumps(sums, indent=2))
    except OSError as exc:
        raise UserError(f"cannot write model folder {path}: {exc.strerror or exc}") from None


def resolve(path: str | Path) -> Path:
    """The folder a model name stands for: ``"bundled"`` is the packaged model, anything else a
    path (so ``./bundled`` is a local folder of that name)."""
    if str(path) == BUNDLED:
        if not (BUNDLED_DIR / CHECKSUMS).exists():
            raise ArtifactError("this installation has no bundled model (it ships with the "
                                "package; reinstall lstm-sentiment)")
        return BUNDLED_DIR
    return Path(path)


def load_folder(path: Path) -> Artifact:
    """Read and verify a model folder; any problem is one :class:`ArtifactError` line."""
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"no model folder at {path}")
    blobs = _read_verified(path)
    try:
        raw = json.loads(blobs["config.json"])
        history = json.loads(blobs["history.json"]).get("epochs", [])
    except (ValueError, AttributeError) as exc:
        raise ArtifactError(f"{path}: unreadable JSON: {exc}") from None
    if raw.get("format") != FORMAT:
        raise ArtifactError(f"{path}/config.json is not an lstm-sentiment model config")
    version = raw.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ArtifactError(f"{path} was saved in model format {version}; this version reads "
                            f"up to {FORMAT_VERSION} (upgrade lstm-sentiment)")
    try:
        config = RunConfig.from_dict({k: raw[k] for k in ("preset", "data", "text", "model",
                                                          "train") if k in raw})
    except (UserError, TypeError) as exc:
        raise ArtifactError(f"{path}/config.json: {exc}") from None
    try:
        weights = load(blobs["model.safetensors"])
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise ArtifactError(f"{path}/model.safetensors is unreadable: {exc}") from None
    info = {k: v for k, v in raw.items()
            if k not in ("format", "format_version", "preset", "data", "text", "model", "train",
                         "labels")}
    return Artifact(config, list(raw.get("labels", [])), blobs["tokenizer.json"].decode(),
                    weights, history, info)


def _read_verified(path: Path) -> dict[str, bytes]:
    try:
        sums = json.loads((path / CHECKSUMS).read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{path} has no {CHECKSUMS}: not a complete model folder") from None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path}/{CHECKSUMS} is unreadable: {exc}") from None
    blobs: dict[str, bytes] = {}
    for name in FILES:
        if name not in sums:
            raise ArtifactError(f"{path}/{CHECKSUMS} does not cover {name}")
        try:
            blob = (path / name).read_bytes()
        except FileNotFoundError:
            raise ArtifactError(f"{path} is missing {name}") from None
        if hashlib.sha256(blob).hexdigest() != sums[name]:
            raise ArtifactError(f"{path}/{name} does not match its checksum "
                                "(tampered, truncated or swapped); refusing to load")
        blobs[name] = blob
    return blobs
