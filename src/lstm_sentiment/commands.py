"""What each command of ``lstm-sentiment`` does once its arguments are parsed (see
:mod:`lstm_sentiment.cli`): check every input, then call the modules that do the work."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from . import config as cfg
from .errors import UserError


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False))


def data(args: argparse.Namespace) -> int:
    from . import data as datasets

    root = datasets.fetch(args.source, sha256=args.sha256)
    if args.data_command == "fetch":
        print(root)
        return 0
    report = datasets.inspect(root, text_field=args.text_field, label_field=args.label_field)
    if args.json:
        _print_json(report)
        return 0
    print(f"dataset: {root}")
    for subset, counts in report["counts"].items():  # type: ignore[union-attr]
        parts = ", ".join(f"{k} {v}" for k, v in counts.items())
        print(f"  {subset:<10} {parts}")
    for key in ("train_digest", "validation_digest", "test_digest"):
        if key in report:
            print(f"  {key}: {report[key]}")
    return 0


def train(args: argparse.Namespace) -> int:
    from . import distributed
    from .pipeline import run

    if args.nproc > 1 and not distributed.under_torchrun():
        return distributed.launch(args.nproc, distributed.without_option(args.argv, "--nproc"))
    config = cfg.preset(args.preset)
    config.data.source = args.source
    config.data.test_source = args.test_source
    config.data.text_field = args.text_field
    config.data.label_field = args.label_field
    if args.epochs is not None:
        config.train.epochs = args.epochs
    if args.seed is not None:
        config.train.seed = args.seed
    if args.lstm is not None:
        config.model.lstm = args.lstm
    if args.mask_padding is not None:
        config.model.mask_padding = args.mask_padding
    if args.threads is not None:
        config.train.threads = args.threads
    try:
        run(config, args.out, resume=args.resume, force=args.force,
            evaluate_test=not args.no_test, log=lambda line: print(line, flush=True),
            device=args.device)
    except KeyboardInterrupt:
        print(f"lstm-sentiment: interrupted; the last finished epoch is saved, continue with "
              f"--resume --out {args.out}", file=sys.stderr)
        return 130
    return 0


def _check_writable(path: Path, *, folder_may_be_new: bool = False) -> None:
    """Refuse an output file that could not be written, before any work."""
    from .fileio import check_writable

    if folder_may_be_new:  # a folder that will be made: its nearest existing parent decides
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
            raise UserError(f"cannot write {path.parent}: {folder} is not writable")
        return
    check_writable(path)


def _load_model(path: str, runtime: str = "torch"):
    from .predict import SentimentModel

    return SentimentModel.load(path, runtime=runtime)


def evaluate(args: argparse.Namespace) -> int:
    from . import data as datasets
    from .evaluate import evaluate as metrics_of

    model = _load_model(args.model)
    root = datasets.fetch(args.source)
    d = model.config.data
    dataset = datasets.load(root, args.split, d.validation_split, d.split_seed,
                        text_field=args.text_field or d.text_field,
                        label_field=args.label_field or d.label_field,
                        class_names=model.info.get("class_folders"))
    metrics = metrics_of(model, dataset)
    if args.json:
        _print_json(metrics)
        return 0
    print(f"{metrics['split']}: accuracy {metrics['accuracy']:.4f}, loss {metrics['loss']:.4f}, "
          f"calibration error (ECE, 15 bins) {metrics['ece']:.4f}, n {metrics['n']}")
    labels = metrics["labels"]
    width = max(max(len(x) for x in labels), len("precision")) + 2
    print("confusion matrix (rows: true, columns: predicted)")
    print(" " * width + "".join(f"{x:>{width}}" for x in labels))
    for name, row in zip(labels, metrics["confusion_matrix"], strict=True):
        print(f"{name:>{width}}" + "".join(f"{v:>{width}}" for v in row))
    # per class, as scikit-learn's classification_report lays it out
    print(" " * width + "".join(f"{x:>{width}}" for x in ("precision", "recall", "f1",
                                                          "support")))
    for name in labels:
        c = metrics["per_class"][name]
        print(f"{name:>{width}}" + "".join(f"{c[k]:>{width}.4f}" for k in ("precision", "recall",
                                                                           "f1"))
              + f"{c['support']:>{width}}")
    return 0


# a model whose validation ECE is above this gets a note where its scores are printed (docs/
# presets.md gives each preset's)
LOOSE_CALIBRATION = 0.05


def predict(args: argparse.Namespace) -> int:
    model = _load_model(args.model, args.runtime)
    texts = list(args.texts)
    if not texts:
        if sys.stdin is None or sys.stdin.isatty():
            raise UserError("give texts as arguments or pipe them in, one per line")
        raw = getattr(sys.stdin, "buffer", None)
        if raw is None:  # a text-only stream
            texts = [line.rstrip("\r\n") for line in sys.stdin]
        else:  # decode ourselves: bytes that are not UTF-8 become U+FFFD, as in training data
            texts = [line.decode("utf-8", "replace").rstrip("\r\n") for line in raw]
    ece = model.calibration_error
    if ece is not None and ece > LOOSE_CALIBRATION and not args.json:
        print(f"note: this model's scores are loosely calibrated (validation ECE {ece:.2f}): "
              "read them as a ranking more than as probabilities", file=sys.stderr)
    for number, (text, pred) in enumerate(zip(texts, model.predict(texts), strict=True), 1):
        if args.json:
            _print_json({"text": text, **pred.to_dict()})
        elif pred.label is None:
            print(f"-\t-\t{text}")
            print(f"note: text {number} gets no label: {pred.reason}", file=sys.stderr)
        else:
            print(f"{pred.label}\t{pred.score:.4f}\t{text}")
    return 0


def explain(args: argparse.Namespace) -> int:
    if args.gates:
        _check_writable(args.out)
    model = _load_model(args.model)
    explanation = model.explain(args.text)
    result: dict[str, Any] = explanation.to_dict()
    if args.gates:
        from .plots import plot_gates

        trace = model.trace(args.text)
        plot_gates(trace, args.out)
        result["gates"] = trace.to_dict()
        result["gates_image"] = str(args.out)
    if args.json:
        _print_json(result)
        return 0
    _print_explanation(explanation)
    if args.gates:
        print(f"gate heat map: {args.out}")
    return 0


def serve(args: argparse.Namespace) -> int:
    from .server import ServeOptions, prepare, serve

    options = ServeOptions(
        args.model, args.host, args.port, args.workers, args.api_key_file, args.max_batch,
        args.max_queue, args.batch_wait_ms, args.body_timeout, args.header_timeout,
        args.drain_timeout, args.access_log, args.threads, args.runtime)
    prepared = prepare(options)  # every input checked, the port bound, before the model loads
    try:
        return serve(options, prepared)
    finally:
        prepared.sock.close()


def score(args: argparse.Namespace) -> int:
    from .score import check, score_file

    check(args.input, args.output, fmt=args.format, output_fmt=args.output_format,
          chunk_size=args.chunk_size, workers=args.workers)
    if args.workers > 1:
        from .pool import warm_up

        warm_up()  # the helpers' PyTorch imports on another core while this process's does
    model = _load_model(args.model, args.runtime)
    summary = score_file(model, args.input, args.output, text_field=args.text_field,
                         fmt=args.format, output_fmt=args.output_format, prefix=args.prefix,
                         chunk_size=args.chunk_size, workers=args.workers)
    where = summary.output or "stdout"
    print(f"scored {summary.rows} rows in {summary.seconds:.1f}s "
          f"({summary.rows_per_second:,.0f} rows/s) -> {where}", file=sys.stderr)
    if summary.errors:
        print(f"warning: {summary.errors} rows could not be scored; see their error field",
              file=sys.stderr)
    if summary.undecodable_lines:
        print(f"note: {summary.undecodable_lines} lines had undecodable bytes, replaced by U+FFFD",
              file=sys.stderr)
    return 0


def import_keras(args: argparse.Namespace) -> int:
    from .keras_import import import_keras

    if (args.out / "checksums.json").exists() and not args.force:
        raise UserError(f"{args.out} already holds a trained model; pass --force to replace it")
    if not args.file.is_file():
        raise UserError(f"no such file: {args.file}")
    _check_writable(args.out / "config.json", folder_may_be_new=True)
    model = import_keras(args.file)
    model.save(args.out)
    m = model.config.model
    print(f"imported {args.file} -> {args.out} (vocabulary {m.vocab_size}, sequence length "
          f"{model.config.text.sequence_length}, LSTM {m.hidden_size}, padding read as Keras)")
    return 0


def _print_explanation(explanation: Any) -> None:
    """The text with each word on a green (towards positive) or red background, strongest
    darkest, then the words that moved the score most. Colours only on a terminal."""
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    pairs = list(zip(explanation.tokens, explanation.contributions, strict=True))
    biggest = max((abs(c) for _, c in pairs), default=0.0) or 1.0
    line = Text()
    for token, c in pairs:
        strength = min(1.0, abs(c) / biggest)
        r, g, b = (22, 163, 74) if c >= 0 else (220, 38, 38)
        mix = [round(255 + (v - 255) * (0.15 + 0.75 * strength)) for v in (r, g, b)]
        line.append(token, style=f"black on rgb({mix[0]},{mix[1]},{mix[2]})")
        line.append(" ")
    console.print(f"[bold]{explanation.label}[/bold] (p(positive) {explanation.score:.4f}); "
                  f"word contributions by {explanation.method}:")
    console.print(line)
    ranked = sorted(pairs, key=lambda p: abs(p[1]), reverse=True)[:10]
    for token, c in ranked:
        console.print(f"  {c:+.4f}  {token}", style="green" if c >= 0 else "red")


def export(args: argparse.Namespace) -> int:

    try:
        from .export import export_onnx
    except ImportError as exc:
        raise UserError(f"ONNX export needs the export extra: pip install "
                        f"'lstm-sentiment[export]' ({exc.name} is missing)") from None
    _check_writable(args.out)
    model = _load_model(args.model)
    print(export_onnx(model, args.out))
    return 0


def plot(args: argparse.Namespace) -> int:
    from .plots import plot_history

    _check_writable(args.out)
    model = _load_model(args.model)
    plot_history(model.history, args.out, title=f"{args.model} ({model.config.preset} preset)")
    print(args.out)
    return 0


def check(args: argparse.Namespace) -> int:
    from . import checklist

    if args.plot:
        checklist.check_image_name(args.plot)
        _check_writable(args.plot)
    shown = args.failures or 0
    report = checklist.check_model(args.model, args.half, failures=max(shown, 3))
    if args.plot:
        checklist.plot_report(report, args.plot, title=f"{args.model}, {args.half} half")
        print(f"bar chart: {args.plot}", file=sys.stderr)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(checklist.format_report(report, failures=shown))
    return 0
