"""One training run end to end: data -> text -> model -> train -> model folder -> metrics.

This is what ``lstm-sentiment train`` and :func:`lstm_sentiment.train` call; it only wires the
modules below it together.

Started by ``torchrun`` (``torchrun --nproc-per-node N -m lstm_sentiment train ...``), every
process runs this same function as one rank of a DistributedDataParallel job (see
:mod:`lstm_sentiment.distributed`): every rank reads and encodes the data and trains; rank 0
alone prepares ``out``, logs, writes checkpoints, evaluates and saves the model folder, while
the other ranks wait for it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import data, distributed, embeddings, memory
from .config import RunConfig
from .distributed import Context
from .errors import UserError
from .evaluate import evaluate_ids
from .model import HybridLSTM, build
from .predict import LABEL_NAMES, SentimentModel
from .text import TextEncoder, id_dtype
from .trainer import Split, evaluate_split, fit, fit_mix

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
        evaluate_test: bool = True, log: Callable[[str], None] = print,
        device: str | torch.device = "auto") -> SentimentModel:
    """Train per ``config``, save the model folder to ``out``, report validation/test metrics.

    ``device`` ("auto" = CUDA when available, "cpu", "cuda") is where training and the final
    evaluation run; the returned model is on the CPU either way. Under torchrun this is one
    rank of a distributed run, and every rank returns the same model and metrics.
    """
    out = Path(out)
    with distributed.session(device) as ctx:
        created = not out.exists()
        ctx.on_main(lambda: prepare_out(out, resume=resume, force=force))
        try:
            return _run(config, out, ctx, resume=resume, evaluate_test=evaluate_test,
                        log=log if ctx.is_main else _silent)
        except BaseException:
            if ctx.is_main and created and out.is_dir() and not any(out.iterdir()):
                out.rmdir()  # leave no empty folder behind when nothing was saved
            raise


def _silent(_line: str) -> None:
    pass


def _evaluate(model: SentimentModel, subset: str, ids: torch.Tensor, labels: np.ndarray,
              class_names: list[str]) -> dict[str, Any]:
    """A training run's evaluation, one batch at a time (see ``evaluate_and_save``)."""
    return evaluate_ids(model, subset, ids, labels, class_names, side_by_side=False)


def _run(config: RunConfig, out: Path, ctx: Context, *, resume: bool, evaluate_test: bool,
         log: Callable[[str], None]) -> SentimentModel:
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    root = ctx.first(lambda: data.fetch(config.data.source), per_node=True)  # one per node
    encoder, train_split, val_split, summary = _encode_data(
        config, root, log, keep_texts=bool(config.train.word_vectors) and not resume)
    class_names, digests = summary.class_names, summary.digests
    config.model.vocab_size = encoder.vocab_size
    config.model.num_classes = len(class_names)

    network = build(config.model, config.train.seed)
    recurrent = network.recurrent if isinstance(network, HybridLSTM) else network
    count = f"{network.trainable_parameters():,} trainable parameters"
    if isinstance(network, HybridLSTM):
        count = (f"{recurrent.trainable_parameters():,} trainable parameters in the LSTM part and "
                 f"{network.trainable_parameters() - recurrent.trainable_parameters():,} "
                 "fitted apart (n-gram weights, mix)")
    log(f"Model: {config.preset} preset, {count}, LSTM {config.model.lstm}, "
        f"padding {'masked' if config.model.mask_padding else 'read'}")
    if config.train.word_vectors and not resume:  # a resumed run loads its trained embedding
        vectors = _word_vectors(config, root, encoder, summary.texts, log)
        with torch.no_grad():
            recurrent.embedding.weight.copy_(torch.from_numpy(vectors))
    summary.texts = []
    memory.release_free_memory()
    if isinstance(network, HybridLSTM):
        t0 = time.perf_counter()
        network.ngrams.fit(train_split.ids, train_split.labels.numpy())
        acc = evaluate_split(network.ngrams, val_split)["acc"]
        log(f"N-gram branch: fitted in {time.perf_counter() - t0:.1f}s, "
            f"validation accuracy {acc:.4f}")
    fingerprint = {"config": config.to_dict(), **digests}
    if ctx.distributed or ctx.device.type != "cpu":
        log(f"Training on {ctx.world_size} process{'es' if ctx.distributed else ''}, "
            f"device {ctx.device.type}")
    t_train = time.perf_counter()
    history = fit(recurrent, train_split, val_split, config.train,
                  checkpoint_dir=out / CHECKPOINT, resume=resume, fingerprint=fingerprint,
                  log=log, context=ctx)
    if isinstance(network, HybridLSTM):
        network.to(ctx.device)
        fit_mix(network, val_split)
        mix = network.mix.tolist()
        log(f"Mix: logit = {mix[0]:.3f} x LSTM + {mix[1]:.3f} x n-grams + bias "
            "(fitted on the validation split)")
    train_seconds = time.perf_counter() - t_train
    del train_split  # evaluation needs the validation rows only
    memory.release_free_memory()  # what the training steps' buffers left in the heap

    labels = [LABEL_NAMES.get(name, name) for name in class_names]
    info: dict[str, Any] = {
        "class_folders": class_names,
        "parameters": network.trainable_parameters(),
        "training_data": {"source": str(config.data.source or data.OFFICIAL_URL),
                          "n_train": summary.n_train, "n_validation": len(val_split.labels),
                          **digests},
        "training_seconds": round(train_seconds, 2),
        "training_device": ctx.device.type,
        "training_processes": ctx.world_size,
    }
    model = SentimentModel(network, encoder, config, labels, history.epochs, info)

    def evaluate_and_save() -> dict[str, Any]:
        # scored on the training device; saved (and returned) from the CPU. One batch at a
        # time: the run still holds its training state, and batches side by side (each thread
        # with its own buffers) raised the seed preset's peak by ~50 MB to save under a second.
        scorer = SentimentModel(_on_device(network, ctx.device), encoder, config, labels,
                                info=info)
        splits = [("validation", val_split.ids, val_split.labels.numpy(), class_names)]
        metrics: dict[str, Any] = {"validation": _evaluate(scorer, *splits[0])}
        log(_metric_line(metrics["validation"]))
        test = _test_split(config, root, class_names) if evaluate_test else None
        if test is not None:
            texts, test_labels, test_names = test
            test_ids = torch.from_numpy(encoder.encode(texts, id_dtype(encoder.vocab_size)))
            splits.append(("test", test_ids, test_labels, test_names))
            metrics["test"] = _evaluate(scorer, *splits[-1])
            log(_metric_line(metrics["test"]))
        if isinstance(network, HybridLSTM):  # each part alone, on the same splits
            metrics["parts"] = {}
            for name, part in (("lstm", network.recurrent), ("ngrams", network.ngrams)):
                alone = SentimentModel(_on_device(part, ctx.device), encoder, config, labels,
                                       info=info)
                metrics["parts"][name] = {
                    split[0]: _evaluate(alone, *split)["accuracy"] for split in splits}
                log(f"{name} alone: " + ", ".join(
                    f"{k} accuracy {v:.4f}" for k, v in metrics["parts"][name].items()))
        network.cpu()
        info["metrics"] = metrics
        model.save(out)
        shutil.rmtree(out / CHECKPOINT, ignore_errors=True)
        log(f"Saved model to {out}")
        return metrics

    # rank 0 evaluates and saves; the others wait, then return the same metrics
    info["metrics"] = ctx.on_main(evaluate_and_save)
    network.cpu()
    return model


class _OnDevice(nn.Module):
    """A network run on ``device`` for CPU callers: ids in and logits out stay on the CPU."""

    def __init__(self, network: nn.Module, device: torch.device) -> None:
        super().__init__()
        self.network = network
        self.device = device

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.network(ids.to(self.device)).cpu()


def _on_device(network: nn.Module, device: torch.device) -> nn.Module:
    return network if device.type == "cpu" else _OnDevice(network, device)


def _word_vectors(config: RunConfig, root: Path, encoder: TextEncoder, texts: list[str],
                  log: Callable[[str], None]) -> np.ndarray:
    """Word vectors for the embedding's start, from the training texts and the source's
    unlabelled ones (never the validation or test texts); see :mod:`lstm_sentiment.embeddings`."""
    if config.train.word_vectors != "ppmi-svd":
        raise UserError(f"unknown word vectors {config.train.word_vectors!r} (choose ppmi-svd)")
    t0 = time.perf_counter()
    unlabelled = data.load_unlabelled(root) if root.is_dir() else []
    vectors = embeddings.ppmi_svd(embeddings.encoded_chunks(encoder, texts + unlabelled),
                                  encoder.vocab_size, config.model.embedding_dim,
                                  seed=config.train.seed, log=log)
    log(f"Word vectors: learned from {len(texts):,} training and {len(unlabelled):,} "
        f"unlabelled texts in {time.perf_counter() - t0:.1f}s")
    return vectors


@dataclass
class _DataSummary:
    """What the run reports about its training data once the texts are gone."""

    class_names: list[str]
    n_train: int
    digests: dict[str, str]
    texts: list[str]  # the training texts, kept only while word vectors need them


def _encode_data(config: RunConfig, root: Path, log: Callable[[str], None], *,
                 keep_texts: bool = False) -> tuple[TextEncoder, Split, Split, _DataSummary]:
    """Read the training and validation reviews, learn the vocabulary, and encode both.

    Training needs only the id rows, stored in the smallest integer type that holds the
    vocabulary (int16: 8.5 MB for IMDB's 18,750 training rows rather than 34 MB as int64). From a
    dataset folder each review file is read as it is counted or encoded (the training files
    twice), so the texts are never all in memory and the heap keeps nothing of them: the seed
    preset's peak RSS fell ~25 MB (and the data stage's own peak ~60 MB). Tables, and runs whose
    word vectors need the training texts (kept in the summary), read every text first.
    """
    d = config.data
    split_args = (d.validation_split, d.split_seed)
    texts: dict[str, Sequence[str]] = {}
    replaced: dict[str, int] = {}  # files whose undecodable bytes became U+FFFD, per subset
    if root.is_dir() and not keep_texts:
        paths: dict[str, list[str]] = {}
        labels: dict[str, list[int]] = {}
        for subset in ("train", "validation"):
            paths[subset], labels[subset], names = data.split_paths(root, subset, *split_args)
            texts[subset] = data.TextFiles(root, paths[subset], f"read {subset}")
    else:
        fields = {"text_field": d.text_field, "label_field": d.label_field}
        loaded = {subset: data.load(root, subset, *split_args, **fields)
                  for subset in ("train", "validation")}
        names = loaded["train"].class_names
        paths = {k: [e.path for e in ds.examples] for k, ds in loaded.items()}
        labels = {k: ds.labels.tolist() for k, ds in loaded.items()}
        texts = {k: ds.texts for k, ds in loaded.items()}
        replaced = {k: ds.replaced_files for k, ds in loaded.items()}
        del loaded
    log(f"Data: {len(paths['train'])} training, {len(paths['validation'])} validation reviews "
        f"from {root} (classes {', '.join(names)})")

    t0 = time.perf_counter()
    dtype = id_dtype(config.text.max_tokens)
    encoder, train_ids = TextEncoder.build(texts["train"], config.text, dtype)
    train_split = Split(torch.from_numpy(train_ids),
                        torch.tensor(labels["train"], dtype=torch.int64))
    val_split = Split(torch.from_numpy(encoder.encode(texts["validation"], dtype)),
                      torch.tensor(labels["validation"], dtype=torch.int64))
    log(f"Vocabulary: {encoder.vocab_size} tokens; encoded in {time.perf_counter() - t0:.1f}s")
    for subset, items in texts.items():
        count = replaced.get(subset, getattr(items, "replaced_files", 0))
        if count:
            log(f"note: {count} {subset} files had undecodable bytes, replaced by U+FFFD")
    summary = _DataSummary(
        names, len(paths["train"]),
        {"train_digest": data.paths_digest(paths["train"]),
         "validation_digest": data.paths_digest(paths["validation"])},
        list(texts["train"]) if keep_texts else [])
    del texts
    memory.release_free_memory()
    return encoder, train_split, val_split, summary


def _test_split(config: RunConfig, root: Path, names: list[str]
                ) -> tuple[Sequence[str], np.ndarray, list[str]] | None:
    """Texts, labels and class names of the official test split: ``--test-source`` if given,
    else the source's ``test/``. Files are read as the texts are used, never all at once."""
    d = config.data
    if d.test_source:
        test_root = data.fetch(d.test_source)
        if test_root.is_file():
            table = data.load_table(test_root, "test", text_field=d.text_field,
                                    label_field=d.label_field, class_names=names)
            return table.texts, table.labels, table.class_names
        return _test_files(test_root, d.validation_split, d.split_seed)
    if root.is_dir() and (root / "test").is_dir():
        return _test_files(root, d.validation_split, d.split_seed)
    return None


def _test_files(root: Path, validation_split: float, seed: int
                ) -> tuple[Sequence[str], np.ndarray, list[str]]:
    paths, labels, names = data.split_paths(root, "test", validation_split, seed)
    return data.TextFiles(root, paths, "read test"), np.asarray(labels, dtype=np.int64), names


def _metric_line(m: dict[str, Any]) -> str:
    return f"{m['split']}: accuracy {m['accuracy']:.4f} - loss {m['loss']:.4f} - n {m['n']}"
