"""One training run end to end: data -> text -> model -> train -> model folder -> metrics.

This is what ``lstm-sentiment train`` and :func:`lstm_sentiment.train` call; it only wires the
modules below it together.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from . import data
from .config import RunConfig
from .errors import UserError
from .evaluate import evaluate
from .model import build
from .predict import LABEL_NAMES, SentimentModel
from .text import TextEncoder
from .train import Split, fit

CHECKPOINT = "checkpoint"


def prepare_out(out: Path, *, resume: bool, force: bool) -> None:
    """Make sure ``out`` can be written and that nothing in it is overwritten by accident."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    has_model = (out / "checksums.json").exists()
    has_checkpoint = (out / CHECKPOINT / "state.json").exists()
    if not resume and not force and (has_model or has_checkpoint):
        what = "a trained model" if has_model else "an unfinished run (use --resume)"
        raise UserError(f"{out} already holds {what}; pass --force to replace it")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to --out {out}: {exc.strerror or exc}") from None
    if force and not resume and has_checkpoint:
        shutil.rmtree(out / CHECKPOINT)


def run(config: RunConfig, out: Path, *, resume: bool = False, force: bool = False,
        evaluate_test: bool = True, log: Callable[[str], None] = print) -> SentimentModel:
    """Train per ``config``, save the model folder to ``out``, report validation/test metrics."""
    out = Path(out)
    created = not out.exists()
    prepare_out(out, resume=resume, force=force)
    try:
        return _run(config, out, resume=resume, evaluate_test=evaluate_test, log=log)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # leave no empty folder behind when nothing was saved
        raise


def _run(config: RunConfig, out: Path, *, resume: bool, evaluate_test: bool,
         log: Callable[[str], None]) -> SentimentModel:
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    root = data.fetch(config.data.source)
    split_args = (config.data.validation_split, config.data.split_seed)
    train_ds = data.load(root, "train", *split_args)
    val_ds = data.load(root, "validation", *split_args)
    log(f"Data: {len(train_ds)} training, {len(val_ds)} validation reviews "
        f"from {root} (classes {', '.join(train_ds.class_names)})")
    for ds in (train_ds, val_ds):
        if ds.replaced_files:
            log(f"note: {ds.replaced_files} {ds.subset} files had undecodable bytes, "
                "replaced by U+FFFD")

    t0 = time.perf_counter()
    encoder, train_ids = TextEncoder.build(train_ds.texts, config.text)
    config.model.vocab_size = encoder.vocab_size
    config.model.num_classes = len(train_ds.class_names)
    train_split = Split(torch.from_numpy(train_ids), torch.from_numpy(train_ds.labels))
    val_split = Split(torch.from_numpy(encoder.encode(val_ds.texts)),
                      torch.from_numpy(val_ds.labels))
    log(f"Vocabulary: {encoder.vocab_size} tokens; encoded in {time.perf_counter() - t0:.1f}s")

    network = build(config.model, config.train.seed)
    log(f"Model: {config.preset} preset, {network.trainable_parameters():,} trainable parameters"
        f", LSTM {config.model.lstm}, padding {'masked' if config.model.mask_padding else 'read'}")
    digests = {"train_digest": data.paths_digest([e.path for e in train_ds.examples]),
               "validation_digest": data.paths_digest([e.path for e in val_ds.examples])}
    fingerprint = {"config": config.to_dict(), **digests}
    t_train = time.perf_counter()
    history = fit(network, train_split, val_split, config.train,
                  checkpoint_dir=out / CHECKPOINT, resume=resume, fingerprint=fingerprint,
                  log=log)
    train_seconds = time.perf_counter() - t_train

    labels = [LABEL_NAMES.get(name, name) for name in train_ds.class_names]
    info: dict[str, Any] = {
        "class_folders": train_ds.class_names,
        "parameters": network.trainable_parameters(),
        "training_data": {"source": str(config.data.source or data.OFFICIAL_URL),
                          "n_train": len(train_ds), "n_validation": len(val_ds), **digests},
        "training_seconds": round(train_seconds, 2),
    }
    model = SentimentModel(network, encoder, config, labels, history.epochs, info)
    metrics: dict[str, Any] = {"validation": evaluate(model, val_ds)}
    log(_metric_line(metrics["validation"]))
    if evaluate_test and (root / "test").is_dir():
        test_ds = data.load(root, "test", *split_args)
        metrics["test"] = evaluate(model, test_ds)
        log(_metric_line(metrics["test"]))
    info["metrics"] = metrics
    model.save(out)
    shutil.rmtree(out / CHECKPOINT, ignore_errors=True)
    log(f"Saved model to {out}")
    return model


def _metric_line(m: dict[str, Any]) -> str:
    return f"{m['split']}: accuracy {m['accuracy']:.4f} - loss {m['loss']:.4f} - n {m['n']}"
