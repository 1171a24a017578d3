"""One training run, as named steps: data -> network -> train -> evaluate and save.

This is what ``lstm-sentiment train`` and :func:`lstm_sentiment.train` call; it only wires the
modules below it together, and asks the network (not its class) what to fit and report.

Started by ``torchrun`` (``torchrun --nproc-per-node N -m lstm_sentiment train ...``), every
process runs this same function as one rank of a DistributedDataParallel job (see
:mod:`lstm_sentiment.distributed`): every rank reads and encodes the data and trains; rank 0
alone prepares ``out``, logs, writes checkpoints, evaluates and saves the model folder, while
the other ranks wait for it.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import augment, data, distributed, embeddings, memory
from .config import RunConfig
from .distributed import Context
from .errors import UserError
from .evaluate import evaluate
from .model import Network, build
from .predict import LABEL_NAMES, SentimentModel
from .split import Split
from .text import TextEncoder, standardized
from .trainer import fit

CHECKPOINT = "checkpoint"
Log = Callable[[str], None]


def prepare_out(out: Path, *, resume: bool, force: bool) -> None:
    """Make sure ``out`` can be written and that nothing in it is overwritten by accident."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    has_model = (out / "checksums.json").exists()
    has_checkpoint = (out / CHECKPOINT / "state.json").exists()
    if not resume and not force and (has_model or has_checkpoint):
        what = "a trained model" if has_model else "an unfinished run (use --resume)"
        raise UserError(f"{out} already holds {what}; pass --force to replace it")
    if resume and not has_checkpoint:
        raise UserError(f"nothing to resume: no checkpoint in {out / CHECKPOINT}")
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
        evaluate_test: bool = True, log: Log = print,
        device: str | torch.device = "auto") -> SentimentModel:
    """Train per ``config``, save the model folder to ``out``, report validation/test metrics.

    ``config`` is not changed: the fields derived from the data (vocabulary size, classes) are
    filled in on a copy, which the returned model and the folder carry. ``device`` ("auto" =
    CUDA when available, "cpu", "cuda") is where training and the final evaluation run; the
    returned model is on the CPU either way. Under torchrun this is one rank of a distributed
    run, and every rank returns the same model and metrics.
    """
    out = Path(out)
    augment.check(config.train.augment)  # settings a run would only meet late, checked first
    code = code_commit()  # before the run writes anything (the bundled model lives in src/)
    with distributed.session(device) as ctx:
        created = not out.exists()
        ctx.on_main(lambda: prepare_out(out, resume=resume, force=force))
        try:
            if config.train.threads:
                torch.set_num_threads(config.train.threads)
            prepared = read_data(config, ctx, log if ctx.is_main else _silent,
                                 keep_texts=bool(config.train.word_vectors) and not resume,
                                 with_test=evaluate_test)
            config = derive(config, prepared)
            network = make_network(config, prepared, log if ctx.is_main else _silent,
                                   resume=resume)
            info = train_network(network, config, prepared, out, ctx,
                                 log if ctx.is_main else _silent, resume=resume)
            info["code"] = code
            return evaluate_and_save(network, config, prepared, info, out, ctx, log)
        except BaseException:
            if ctx.is_main and created and out.is_dir() and not any(out.iterdir()):
                out.rmdir()  # leave no empty folder behind when nothing was saved
            raise


def _silent(_line: str) -> None:
    pass


def code_commit() -> dict[str, Any]:
    """The git commit of the code that trains, when it runs from a checkout, and whether its
    package folder had uncommitted changes: what ties a folder's figures to a commit."""
    here = str(Path(__file__).resolve().parent)
    try:
        head = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        status = subprocess.run(["git", "-C", here, "status", "--porcelain", "--", "."],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None}
    if head.returncode or status.returncode:  # an installed package, not a checkout
        return {"commit": None}
    return {"commit": head.stdout.strip(), "package_dirty": bool(status.stdout.strip())}


# ------------------------------------------------------------------------------ 1. data


@dataclass
class Prepared:
    """The data of a run, encoded, and what it reports about its sources."""

    encoder: TextEncoder
    train: Split  # the training texts, then the rows augmentation made of them
    originals: int  # how many of train's rows are the training texts themselves
    validation: Split
    class_names: list[str]
    validation_texts: data.Dataset  # the final evaluation reads them whole, as predict does
    test: data.Dataset | None  # None: no test data, or not asked for
    root: Path  # where the training data was found (unlabelled texts for word vectors)
    provenance: dict[str, Any]  # file names, sha256, counts and digests: no machine path
    texts: list[str]  # the training texts, kept only while word vectors need them


def read_data(config: RunConfig, ctx: Context, log: Log, *, keep_texts: bool,
              with_test: bool) -> Prepared:
    """Find the sources (the test source too, before any training), learn the vocabulary from
    the training split, and encode training and validation. A folder's reviews are read from
    disk as they are counted and encoded (the training files twice), never all held at once,
    unless word vectors need the training texts (``keep_texts``)."""
    d = config.data
    fields = {"text_field": d.text_field, "label_field": d.label_field}
    root = ctx.first(lambda: data.fetch(d.source), per_node=True)  # one download per node
    source = data.describe(d.source)
    train = data.load(root, "train", d.validation_split, d.split_seed, **fields)
    val = data.load(root, "validation", d.validation_split, d.split_seed, **fields,
                    class_names=train.class_names)
    test = None
    if with_test:
        test_root = (ctx.first(lambda: data.fetch(d.test_source), per_node=True)
                     if d.test_source else root)
        if d.test_source or "test" in data.subsets_of(root):
            test = data.load(test_root, "test", d.validation_split, d.split_seed, **fields,
                             class_names=train.class_names)
    log(f"Data: {len(train)} training, {len(val)} validation"
        + (f", {len(test)} test" if test is not None else "") + f" texts from "
        f"{source['name']} (classes {', '.join(train.class_names)})")

    t0 = time.perf_counter()
    augmenting = bool(config.train.augment)
    texts = list(train.texts) if keep_texts or augmenting else train.texts
    # ids in the smallest type the vocabulary fits (a lexicon may take it past max_tokens)
    encoder, train_ids = TextEncoder.build(texts, config.text, None)
    dtype = train_ids.dtype
    train_split = Split(torch.from_numpy(train_ids), torch.from_numpy(train.labels))
    if augmenting:
        train_split = _augmented(config, train_split, texts, train.labels, train.class_names,
                                 encoder, log)
    val_split = Split(torch.from_numpy(encoder.encode(val.texts, dtype)),
                      torch.from_numpy(val.labels))
    log(f"Vocabulary: {encoder.vocab_size} tokens; encoded in {time.perf_counter() - t0:.1f}s")
    for dataset in (train, val):
        if dataset.replaced:
            log(f"note: {dataset.replaced} {dataset.subset} texts had undecodable bytes, "
                "replaced by U+FFFD")
    provenance = {
        "source": source,
        **({"lexicon": _lexicon_provenance()} if config.text.lexicon or config.model.lexicon
           else {}),
        "test_source": data.describe(d.test_source) if d.test_source else None,
        "counts": {ds.subset: ds.counts() for ds in (train, val, test) if ds is not None},
        "train_digest": data.paths_digest(train.ids),
        "validation_digest": data.paths_digest(val.ids),
    }
    memory.release_free_memory()
    return Prepared(encoder, train_split, len(train), val_split, train.class_names, val, test,
                    root, provenance, texts if keep_texts else [])  # type: ignore[arg-type]


def _lexicon_provenance() -> dict[str, object]:
    from . import lexicon

    return lexicon.provenance()


def _augmented(config: RunConfig, split: Split, texts: list[str], labels: Any,
               class_names: list[str], encoder: TextEncoder, log: Log) -> Split:
    """``split`` with the rows :mod:`lstm_sentiment.augment` makes from the training reviews."""
    from . import lexicon

    names = [LABEL_NAMES.get(name, name).lower() for name in class_names]
    if names != ["negative", "positive"]:  # the rules make negative and positive sentences
        log(f"note: no augmented rows: the rules need classes negative and positive, not "
            f"{', '.join(class_names)}")
        return split
    rows, counts = augment.rows(config.train.augment, texts, labels.tolist(),
                                lexicon.word_valences(), config.train.seed,
                                lexicon.emoji_valences())
    log("Augmented: " + ", ".join(f"{n:,} {kind} rows" for kind, n in counts.items()))
    ids = torch.from_numpy(encoder.encode([t for t, _ in rows], split.ids.numpy().dtype))
    return Split(torch.cat([split.ids, ids]),
                 torch.cat([split.labels,
                            torch.tensor([y for _, y in rows], dtype=split.labels.dtype)]))


def derive(config: RunConfig, prepared: Prepared) -> RunConfig:
    """A copy of ``config`` with the fields the data decides filled in (minGPT's pattern:
    ``vocab_size`` stays None in a preset until the vocabulary exists), and its sources as
    the portable names the model folder records."""
    test = prepared.provenance["test_source"]
    sources = dataclasses.replace(
        config.data, source=prepared.provenance["source"].get("url")
        or prepared.provenance["source"]["name"], test_source=test and test["name"])
    return dataclasses.replace(config, data=sources).derived(
        vocab_size=prepared.encoder.vocab_size, num_classes=len(prepared.class_names))


# ------------------------------------------------------------------------------ 2. network


def make_network(config: RunConfig, prepared: Prepared, log: Log, *, resume: bool) -> Network:
    """The network, initialised, its embedding started from word vectors if the preset asks
    (not when resuming: the checkpoint holds the trained one), and its parts that are fitted
    apart fitted before training."""
    network = build(config.model, config.train.seed)
    log(f"Model: {config.preset} preset, {network.describe()}, LSTM {config.model.lstm}, "
        f"padding {'masked' if config.model.mask_padding else 'read'}")
    if config.train.word_vectors and not resume:
        vectors = _word_vectors(config, prepared, log)
        with torch.no_grad():
            network.recurrent.embedding.weight.copy_(torch.from_numpy(vectors))
    if config.model.lexicon:  # fixed, so a resumed run sets it again too
        from . import lexicon

        rated = lexicon.valences(prepared.encoder.vocabulary,
                                 lambda t: standardized(t, config.text.standardize))
        with torch.no_grad():
            network.recurrent.embedding.valence.copy_(torch.from_numpy(rated))
        log(f"Lexicon: valences for {int((rated != 0).sum()):,} of {len(rated):,} tokens")
    prepared.texts = []
    memory.release_free_memory()
    # what is fitted apart (the n-gram branch) reads the training texts, not the augmentation
    originals = Split(prepared.train.ids[: prepared.originals],
                      prepared.train.labels[: prepared.originals])
    network.fit_before(originals, prepared.validation, log)
    return network


def _word_vectors(config: RunConfig, prepared: Prepared, log: Log) -> Any:
    """Word vectors for the embedding's start, from the training texts and the source's
    unlabelled ones (never the validation or test texts); see :mod:`lstm_sentiment.embeddings`."""
    if config.train.word_vectors != "ppmi-svd":
        raise UserError(f"unknown word vectors {config.train.word_vectors!r} (choose ppmi-svd)")
    t0 = time.perf_counter()
    unlabelled = data.load_unlabelled(prepared.root)
    vectors = embeddings.ppmi_svd(
        embeddings.encoded_chunks(prepared.encoder, prepared.texts + unlabelled),
        prepared.encoder.vocab_size, config.model.embedding_dim, seed=config.train.seed, log=log)
    log(f"Word vectors: learned from {len(prepared.texts):,} training and {len(unlabelled):,} "
        f"unlabelled texts in {time.perf_counter() - t0:.1f}s")
    return vectors


# ------------------------------------------------------------------------------ 3. train


def train_network(network: Network, config: RunConfig, prepared: Prepared, out: Path,
                  ctx: Context, log: Log, *, resume: bool) -> dict[str, Any]:
    """Gradient steps on the network's recurrent part (checkpointed in ``out``), then what is
    fitted after them; returns what the model folder records about the training."""
    fingerprint = {"config": config.to_dict(), "train_digest":
                   prepared.provenance["train_digest"], "validation_digest":
                   prepared.provenance["validation_digest"]}
    if ctx.distributed or ctx.device.type != "cpu":
        log(f"Training on {ctx.world_size} process{'es' if ctx.distributed else ''}, "
            f"device {ctx.device.type}")
    started = time.perf_counter()
    history = fit(network.recurrent, prepared.train, prepared.validation, config.train,
                  checkpoint_dir=out / CHECKPOINT, resume=resume, fingerprint=fingerprint,
                  log=log, context=ctx)
    network.to(ctx.device)
    network.fit_after(prepared.validation, log)
    prepared.train = Split(prepared.train.ids[:0], prepared.train.labels[:0])  # let it go
    memory.release_free_memory()  # what the training steps' buffers left in the heap
    return {
        "class_folders": prepared.class_names,
        "parameters": network.trainable_parameters(),
        "training_data": {**prepared.provenance,
                          "n_train": prepared.provenance["counts"]["train"]["total"],
                          "n_validation": len(prepared.validation.labels)},
        "training_seconds": round(time.perf_counter() - started, 2),
        "training_device": ctx.device.type,
        "training_processes": ctx.world_size,
        "history": history.epochs,
    }


# ------------------------------------------------------------------------------ 4. evaluate, save


def evaluate_and_save(network: Network, config: RunConfig, prepared: Prepared,
                      info: dict[str, Any], out: Path, ctx: Context,
                      log: Log) -> SentimentModel:
    """Rank 0 evaluates on the validation and test splits (the whole network and each of its
    parts alone) on the training device, then saves the folder from the CPU; the other ranks
    wait and return the same model and metrics."""
    history = info.pop("history")
    labels = [LABEL_NAMES.get(name, name) for name in prepared.class_names]
    model = SentimentModel(network, prepared.encoder, config, labels, history, info)

    def evaluate_and_save_here() -> dict[str, Any]:
        splits = [d for d in (prepared.validation_texts, prepared.test) if d is not None]
        metrics: dict[str, Any] = {}
        for name, part in (("", network), *network.parts().items()):
            scorer = SentimentModel(_on_device(part, ctx.device), prepared.encoder, config,
                                    labels, info=info)
            for dataset in splits:
                # one batch at a time: the run still holds its training state
                found = evaluate(scorer, dataset, side_by_side=False)
                if name:
                    metrics.setdefault("parts", {}).setdefault(name, {})[dataset.subset] = \
                        found["accuracy"]
                else:
                    # also as Keras reads a text: its first window only (the seed preset's
                    # figures compare with the tutorial's so)
                    first = evaluate(scorer, dataset, whole=False, side_by_side=False)
                    found["first_window"] = {k: first[k] for k in ("accuracy", "loss")}
                    metrics[dataset.subset] = found
                    log(f"{dataset.subset}: accuracy {found['accuracy']:.4f} - loss "
                        f"{found['loss']:.4f} - n {found['n']} (first window only: accuracy "
                        f"{first['accuracy']:.4f})")
            if name:
                log(f"{name} alone: " + ", ".join(
                    f"{k} accuracy {v:.4f}" for k, v in metrics["parts"][name].items()))
        network.cpu()
        info["metrics"] = metrics
        model.save(out)
        shutil.rmtree(out / CHECKPOINT, ignore_errors=True)
        log(f"Saved model to {out}")
        return metrics

    info["metrics"] = ctx.on_main(evaluate_and_save_here)
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
