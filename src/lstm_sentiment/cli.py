"""The ``lstm-sentiment`` command. Thin: parses arguments and calls the modules.

Errors the user can cause print one line (``lstm-sentiment: error: ...``) and exit 2.
Set ``LSTM_SENTIMENT_DEBUG=1`` to see a traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import config as cfg
from ._version import __version__

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", metavar="SRC",
                   help="dataset folder, .tar.gz or http(s)/file URL "
                        "(default: the official IMDB archive, cached)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lstm-sentiment",
                     description="Train, evaluate and use LSTM sentiment classifiers.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)

    p_data = sub.add_parser("data", help="fetch or inspect a dataset")
    data_sub = p_data.add_subparsers(dest="data_command", required=True, metavar="ACTION",
                                     parser_class=_Parser)
    p = data_sub.add_parser("fetch", help="download, verify and extract; print the folder")
    _source_args(p)
    p.add_argument("--sha256", help="expected sha256 of the archive (any source)")
    p = data_sub.add_parser("inspect", help="counts per split and class, split digests")
    _source_args(p)
    p.add_argument("--sha256", help="expected sha256 of the archive (any source)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("train", help="train a model and save its folder")
    p.add_argument("--preset", default="seed", choices=sorted(cfg.PRESETS),
                   help="seed: the tutorial's model; accurate: BiLSTM + n-grams (default: seed)")
    _source_args(p)
    p.add_argument("--out", required=True, type=Path, help="model folder to write")
    p.add_argument("--epochs", type=_positive_int, help="override the preset's epochs")
    p.add_argument("--seed", type=int, help="initialisation and batch-order seed (default 1)")
    p.add_argument("--lstm", choices=["fused", "reference"], help="LSTM implementation")
    padding = p.add_mutually_exclusive_group()
    padding.add_argument("--mask-padding", dest="mask_padding", action="store_true",
                         default=None, help="stop the LSTM at the last real token (default)")
    padding.add_argument("--read-padding", dest="mask_padding", action="store_false",
                         help="run the LSTM through trailing padding, as Keras does")
    p.add_argument("--test-source", metavar="SRC",
                   help="test data (default: the source's test/ folder)")
    p.add_argument("--text-field", help="text column of a CSV/TSV/JSONL source")
    p.add_argument("--label-field", help="label column of a CSV/TSV/JSONL source")
    p.add_argument("--threads", type=_positive_int, help="torch threads (default: all cores)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where to train and evaluate: auto = cuda when available (default)")
    p.add_argument("--nproc", type=_positive_int, default=1, metavar="N",
                   help="train as N local processes (DistributedDataParallel via torchrun)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--force", action="store_true", help="replace a model already in --out")
    p.add_argument("--no-test", action="store_true", help="skip the official test split")

    p = sub.add_parser("evaluate", help="accuracy, loss and confusion matrix on a split")
    p.add_argument("model", help="model folder")
    _source_args(p)
    p.add_argument("--split", default="test", choices=["validation", "test"])
    p.add_argument("--text-field", help="text column of a CSV/TSV/JSONL source")
    p.add_argument("--label-field", help="label column of a CSV/TSV/JSONL source")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("predict", help="label texts (arguments, or stdin one per line)")
    p.add_argument("model", help="model folder")
    p.add_argument("texts", nargs="*", metavar="TEXT")
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = sub.add_parser("explain", help="which words moved the score; the LSTM's gates")
    p.add_argument("model", help="model folder")
    p.add_argument("text", help="the text to explain")
    p.add_argument("--gates", action="store_true",
                   help="draw the LSTM's gates per word as a heat map (see --out)")
    p.add_argument("--out", type=Path, default=Path("gates.png"),
                   help="heat map file for --gates (.png, .svg, .pdf)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (with --gates: the gate traces too)")

    p = sub.add_parser("serve", help="HTTP API and web page for a model (docs/serving.md)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    from .server import add_arguments

    add_arguments(p)

    p = sub.add_parser("score", help="label every row of a CSV, TSV, JSONL or text file")
    p.add_argument("model", help="model folder")
    p.add_argument("--input", required=True, help="input file, or - for stdin")
    p.add_argument("--output", help="output file (default: stdout); written atomically")
    p.add_argument("--text-field", help="column/key holding the text (default: text, review, "
                   "sentence or content)")
    p.add_argument("--format", choices=["csv", "tsv", "jsonl", "lines"],
                   help="input format (default: from the file name; stdin: lines)")
    p.add_argument("--output-format", choices=["csv", "tsv", "jsonl"],
                   help="output format (default: from the output name, else like the input)")
    p.add_argument("--prefix", default="", help="prefix for the added label/score/error fields")
    p.add_argument("--chunk-size", type=_positive_int, default=2000,
                   help="rows scored at a time (memory stays bounded)")
    p.add_argument("--workers", type=_positive_int, default=1,
                   help="score in N processes, this one included (default 1); output "
                   "order is kept")

    p = sub.add_parser("import-keras",
                       help="turn a tutorial model saved by Keras (.keras or .h5) into a folder")
    p.add_argument("file", type=Path, help="the Keras file (.keras zip or legacy .h5)")
    p.add_argument("--out", required=True, type=Path, help="model folder to write")
    p.add_argument("--force", action="store_true", help="replace a model already in --out")

    p = sub.add_parser("export", help="export a model for deployment outside Python")
    p.add_argument("model", help="model folder")
    p.add_argument("--format", choices=["onnx"], default="onnx", help="only onnx for now")
    p.add_argument("--out", required=True, type=Path, help="file to write (model.onnx)")

    p = sub.add_parser("plot", help="training and validation curves as an image")
    p.add_argument("model", help="model folder")
    p.add_argument("--out", type=Path, default=Path("curves.png"), help="image file (.png)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(raw)
    args.argv = raw
    from . import progress
    from .errors import UserError

    progress.set_quiet(args.quiet)
    try:
        return _dispatch(args)
    except UserError as exc:
        if not getattr(exc, "quiet", False):  # another process already reported it
            print(f"lstm-sentiment: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("lstm-sentiment: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        if os.environ.get("LSTM_SENTIMENT_DEBUG"):
            raise
        print(f"lstm-sentiment: internal error: {type(exc).__name__}: {one_line(exc)} "
              "(set LSTM_SENTIMENT_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1


def one_line(exc: BaseException) -> str:
    """An exception's message folded onto one line."""
    return "; ".join(part.strip() for part in str(exc).splitlines() if part.strip())


def _dispatch(args: argparse.Namespace) -> int:
    handler = {"data": _data, "train": _train, "evaluate": _evaluate, "predict": _predict,
               "explain": _explain, "serve": _serve, "score": _score, "import-keras": _import_keras,
               "export": _export, "plot": _plot}[args.command]
    return handler(args)


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False))


def _data(args: argparse.Namespace) -> int:
    from . import data

    root = data.fetch(args.source, sha256=args.sha256)
    if args.data_command == "fetch":
        print(root)
        return 0
    report = data.inspect(root)
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


def _train(args: argparse.Namespace) -> int:
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


def _load_model(path: str):
    from .predict import SentimentModel

    return SentimentModel.load(path)


def _evaluate(args: argparse.Namespace) -> int:
    from . import data
    from .evaluate import evaluate

    model = _load_model(args.model)
    root = data.fetch(args.source)
    d = model.config.data
    fields = {"text_field": args.text_field or d.text_field,
              "label_field": args.label_field or d.label_field}
    if root.is_file():
        dataset = data.load_table(root, args.split, d.validation_split, d.split_seed,
                                  class_names=model.info.get("class_folders"), **fields)
    else:
        dataset = data.load(root, args.split, d.validation_split, d.split_seed)
    metrics = evaluate(model, dataset)
    if args.json:
        _print_json(metrics)
        return 0
    print(f"{metrics['split']}: accuracy {metrics['accuracy']:.4f}, loss {metrics['loss']:.4f}, "
          f"n {metrics['n']}")
    labels = metrics["labels"]
    width = max(len(x) for x in labels) + 2
    print("confusion matrix (rows: true, columns: predicted)")
    print(" " * width + "".join(f"{x:>{width}}" for x in labels))
    for name, row in zip(labels, metrics["confusion_matrix"], strict=True):
        print(f"{name:>{width}}" + "".join(f"{v:>{width}}" for v in row))
    return 0


def _predict(args: argparse.Namespace) -> int:
    model = _load_model(args.model)
    texts = list(args.texts)
    if not texts:
        if sys.stdin is None or sys.stdin.isatty():
            from .errors import UserError

            raise UserError("give texts as arguments or pipe them in, one per line")
        raw = getattr(sys.stdin, "buffer", None)
        if raw is None:  # a text-only stream
            texts = [line.rstrip("\r\n") for line in sys.stdin]
        else:  # decode ourselves: bytes that are not UTF-8 become U+FFFD, as in training data
            texts = [line.decode("utf-8", "replace").rstrip("\r\n") for line in raw]
    for number, (text, pred) in enumerate(zip(texts, model.predict(texts), strict=True), 1):
        if args.json:
            _print_json({"text": text, **pred.to_dict()})
        elif pred.label is None:
            print(f"-\t-\t{text}")
            print(f"note: text {number} gets no label: {pred.reason}", file=sys.stderr)
        else:
            print(f"{pred.label}\t{pred.score:.4f}\t{text}")
    return 0


def _explain(args: argparse.Namespace) -> int:
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


def _serve(args: argparse.Namespace) -> int:
    from .server import ServeOptions, prepare, serve

    options = ServeOptions(
        args.model, args.host, args.port, args.workers, args.api_key_file, args.max_batch,
        args.max_queue, args.batch_wait_ms, args.body_timeout, args.header_timeout,
        args.drain_timeout, args.access_log, args.threads)
    prepared = prepare(options)  # every input checked, the port bound, before the model loads
    try:
        return serve(options, prepared)
    finally:
        prepared.sock.close()


def _score(args: argparse.Namespace) -> int:
    from .score import score_file

    model = _load_model(args.model)
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


def _import_keras(args: argparse.Namespace) -> int:
    from .errors import UserError
    from .keras_import import import_keras

    if (args.out / "checksums.json").exists() and not args.force:
        raise UserError(f"{args.out} already holds a trained model; pass --force to replace it")
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


def _export(args: argparse.Namespace) -> int:
    from .errors import UserError

    try:
        from .export import export_onnx
    except ImportError as exc:
        raise UserError(f"ONNX export needs the export extra: pip install "
                        f"'lstm-sentiment[export]' ({exc.name} is missing)") from None
    model = _load_model(args.model)
    print(export_onnx(model, args.out))
    return 0


def _plot(args: argparse.Namespace) -> int:
    from .plots import plot_history

    model = _load_model(args.model)
    plot_history(model.history, args.out, title=f"{args.model} ({model.config.preset} preset)")
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
