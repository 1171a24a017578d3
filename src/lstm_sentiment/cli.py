"""The ``lstm-sentiment`` command. Thin: parses arguments and calls the modules.

Errors the user can cause print one line (``lstm-sentiment: error: ...``) and exit 2.
Set ``LSTM_SENTIMENT_DEBUG=1`` to see a traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import config as cfg
from ._version import __version__
from .runtime import DEFAULT as DEFAULT_RUNTIME
from .runtime import RUNTIME_HELP, RUNTIMES

EXIT_USAGE = 2


MODEL_HELP = "a model folder, or 'bundled' for the model that ships with the package"


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line with the same prefix as every other error."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("lstm-sentiment").strip()
        where = f"{command}: " if command else ""
        self.exit(EXIT_USAGE, f"lstm-sentiment: error: {where}{message} (see --help)\n")


class _Help(argparse.HelpFormatter):
    """Shows each option's default, where it has one worth showing (a flag's is not)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        # by identity: 0 and 0.0 equal False, and are defaults worth showing
        shown = not (default is None or default is False or default is argparse.SUPPRESS)
        if (shown and "%(default)" not in text and action.option_strings and action.nargs != 0
                and "default" not in text):
            text += " (default: %(default)r)" if default == "" else " (default: %(default)s)"
        return text


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _source_args(p: argparse.ArgumentParser, fields: bool = True) -> None:
    p.add_argument("--source", metavar="SRC",
                   help="dataset folder, .tar.gz, http(s)/file URL, or CSV/TSV/JSONL table "
                        "(default: the official IMDB archive, downloaded once and cached)")
    if fields:
        p.add_argument("--text-field", metavar="F", help="a table's text column "
                       "(default: text, review, sentence or content)")
        p.add_argument("--label-field", metavar="F", help="a table's label column "
                       "(default: label, sentiment, class or target)")


def runtime_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runtime", choices=RUNTIMES, default=DEFAULT_RUNTIME, help=RUNTIME_HELP)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars")
    parser = _Parser(prog="lstm-sentiment", formatter_class=_Help,
                     description="Train, evaluate, explain and serve LSTM sentiment "
                                 "classifiers.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)

    def command(name: str, help: str, parent: Any = sub) -> argparse.ArgumentParser:
        return parent.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".",
                                 parents=[common], formatter_class=_Help)

    p_data = command("data", "fetch or inspect a dataset")
    data_sub = p_data.add_subparsers(dest="data_command", required=True, metavar="ACTION",
                                     parser_class=_Parser)
    p = command("fetch", "download, verify and extract a dataset; print its folder", data_sub)
    _source_args(p, fields=False)
    p.add_argument("--sha256", help="expected sha256 of the archive (any source)")
    p = command("inspect", "counts per split and class, and the digests that pin the split",
                data_sub)
    _source_args(p)
    p.add_argument("--sha256", help="expected sha256 of the archive (any source)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = command("train", "train a model and save its folder")
    p.add_argument("--preset", default="seed", choices=sorted(cfg.PRESETS),
                   help="seed: the tutorial's model; accurate: BiLSTM + n-grams")
    _source_args(p)
    p.add_argument("--out", required=True, type=Path, help="model folder to write")
    p.add_argument("--test-source", metavar="SRC",
                   help="test data (default: the source's test/ folder, if it has one)")
    p.add_argument("--epochs", type=_positive_int, help="override the preset's epochs")
    p.add_argument("--seed", type=int, help="initialisation and batch-order seed (default: 1)")
    p.add_argument("--lstm", choices=["fused", "reference"],
                   help="LSTM implementation (default: fused, torch.nn.LSTM)")
    padding = p.add_mutually_exclusive_group()
    padding.add_argument("--mask-padding", dest="mask_padding", action="store_true",
                         default=None, help="stop the LSTM at the last real token (default)")
    padding.add_argument("--read-padding", dest="mask_padding", action="store_false",
                         help="run the LSTM through trailing padding, as Keras does")
    p.add_argument("--threads", type=_positive_int, help="torch threads (default: all cores)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where to train and evaluate: auto = cuda when available")
    p.add_argument("--nproc", type=_positive_int, default=1, metavar="N",
                   help="train as N local processes (DistributedDataParallel via torchrun)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--force", action="store_true", help="replace a model already in --out")
    p.add_argument("--no-test", action="store_true", help="skip the test split")

    p = command("evaluate", "accuracy, loss, confusion matrix and per-class scores on a split")
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    _source_args(p)
    p.add_argument("--split", default="test", choices=["validation", "test"],
                   help="which split of the source")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = command("predict", "label texts")
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("texts", nargs="*", metavar="TEXT",
                   help="texts to label; with none, standard input is read, one text a line")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per text: label, score, tokens read, reason for none")
    runtime_arg(p)

    p = command("explain", "which words moved the score; the LSTM's gates")
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("text", metavar="TEXT", help="the text to explain")
    p.add_argument("--gates", action="store_true",
                   help="draw the LSTM's gates per word as a heat map (see --out)")
    p.add_argument("--out", type=Path, default=Path("gates.png"),
                   help="heat map file for --gates (.png, .svg, .pdf)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (with --gates: the gate traces too)")

    p = command("serve", "HTTP API and web page for a model (docs/serving.md)")
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    from .server import add_arguments

    add_arguments(p)

    p = command("score", "label every row of a CSV, TSV, JSONL or plain-text file")
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("--input", required=True, help="input file, or - for standard input")
    p.add_argument("--output", help="output file, written atomically (default: standard "
                   "output)")
    p.add_argument("--text-field", metavar="F", help="column/key holding the text "
                   "(default: text, review, sentence or content)")
    p.add_argument("--format", choices=["csv", "tsv", "jsonl", "lines"],
                   help="input format (default: from the file name; standard input: lines)")
    p.add_argument("--output-format", choices=["csv", "tsv", "jsonl"],
                   help="output format (default: from the output name, else like the input)")
    p.add_argument("--prefix", default="", help="prefix for the added label/score/error fields")
    p.add_argument("--chunk-size", type=_positive_int, default=2000,
                   help="rows scored at a time (memory stays bounded)")
    p.add_argument("--workers", type=_positive_int, default=1,
                   help="score in up to N processes, this one included; output order is "
                        "kept (the others start only when the work left repays their start)")
    runtime_arg(p)

    p = command("import-keras", "turn a tutorial model saved by Keras (.keras or .h5) into a "
                "model folder")
    p.add_argument("file", type=Path, help="the Keras file (.keras zip or legacy .h5)")
    p.add_argument("--out", required=True, type=Path, help="model folder to write")
    p.add_argument("--force", action="store_true", help="replace a model already in --out")

    p = command("export", "export a model for deployment outside Python")
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("--format", choices=["onnx"], default="onnx", help="only onnx for now")
    p.add_argument("--out", required=True, type=Path, help="file to write (model.onnx)")

    p = command("check", "behavioural tests in the manner of CheckList: pass rates per "
                "capability (negation, contrast, emoji, slang, other domains, ...)")
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("--half", default="dev", choices=["dev", "test", "all"],
                   help="dev: the half to tune and choose on; test: for reporting only")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--failures", type=_positive_int, metavar="N",
                   help="list up to N failing cases per capability")
    p.add_argument("--plot", type=Path, metavar="FILE.png",
                   help="also draw the pass rates as a bar chart (.png, .svg, .pdf)")

    p = command("plot", "training and validation curves as an image")
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("--out", type=Path, default=Path("curves.png"),
                   help="image file (.png, .svg, .pdf)")
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
    from . import commands

    handler = {"data": commands.data, "train": commands.train, "evaluate": commands.evaluate,
               "predict": commands.predict, "explain": commands.explain,
               "serve": commands.serve, "score": commands.score,
               "import-keras": commands.import_keras, "export": commands.export,
               "plot": commands.plot, "check": commands.check}[args.command]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
