"""ONNX export: a trained model as one graph, from token ids to probabilities.

>>> from lstm_sentiment import SentimentModel
>>> from lstm_sentiment.export import export_onnx
>>> export_onnx(SentimentModel.load("runs/seed"), Path("seed.onnx"))   # doctest: +SKIP

The graph
    input ``ids``: int64 ``[batch, sequence]``, the rows :meth:`SentimentModel.encode` gives
    (``tokenizer.json`` in the model folder turns text into them), 0 = padding, only at the end
    of a row. Output ``probabilities``: float32 ``[batch]`` = p(positive) for a two-class model,
    or ``[batch, classes]`` softmax probabilities otherwise. Both axes are dynamic.

Padding
    :class:`~lstm_sentiment.model.SentimentLSTM` cuts a batch to its longest row in Python
    (``int(lengths.max())``), which a traced graph would freeze to the example's length. The
    exported graph instead runs the LSTM over every column it is given and, for a model that
    masks padding, picks each row's state after its last real token with a gather on the
    lengths, which is the same number: padding only trails, so what follows the last token
    never reaches it. So a caller may pass rows padded to the model's sequence length, or cut
    a batch to its longest row to save time; either gives the same probabilities. A model that
    reads padding (Keras's way) sees the padding as input: give it rows padded to the model's
    sequence length, as the model does.

Metadata (``metadata_props`` of the ONNX model): ``labels`` (JSON list), ``sequence_length``,
``mask_padding``, ``output`` (what the output holds) and ``lstm_sentiment_version``.

The graph is written with PyTorch's TorchScript-based exporter (``dynamo=False``), which needs
only the ``onnx`` package to check and annotate it; the newer exporter would also need
``onnxscript``. Install the extra: ``pip install 'lstm-sentiment[export]'``.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import torch
from torch import nn

from ._version import __version__
from .errors import UserError
from .fileio import atomic_write_bytes
from .model import Network
from .predict import SentimentModel

OPSET = 17
INPUT = "ids"
OUTPUT = "probabilities"


class ExportProbabilities(nn.Module):
    """The network with its Python-side shape decisions turned off
    (:meth:`~lstm_sentiment.model.Network.for_export`), its head's probabilities as output."""

    def __init__(self, network: Network) -> None:
        super().__init__()
        self.network = network.for_export()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.network.classifier.output(self.network(ids))


def export_onnx(model: SentimentModel, out: Path, *, opset: int = OPSET) -> Path:
    """Write ``model`` as an ONNX graph to ``out`` (atomically) and return the path.

    See the module docstring for the graph's input, output and metadata. Raises
    :class:`UserError` when the ``onnx`` package is missing or ``out`` cannot be written.
    """
    try:
        import onnx
    except ImportError:
        raise UserError("ONNX export needs the onnx package: "
                        "pip install 'lstm-sentiment[export]'") from None
    out = Path(out)
    forward = ExportProbabilities(model.network)
    example = torch.ones(2, model.config.text.sequence_length, dtype=torch.long)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # the legacy exporter's deprecation notice, and the tracer's notes on shapes it records
        warnings.simplefilter("ignore")
        torch.onnx.export(forward, (example,), buffer, dynamo=False, opset_version=opset,
                          input_names=[INPUT], output_names=[OUTPUT],
                          dynamic_axes={INPUT: {0: "batch", 1: "sequence"},
                                        OUTPUT: {0: "batch"}})
    graph = onnx.load_from_string(buffer.getvalue())
    meta = {
        "labels": json.dumps(model.labels),
        "sequence_length": str(model.config.text.sequence_length),
        "mask_padding": json.dumps(model.config.model.mask_padding),
        "output": model.network.classifier.describe_output(model.labels),
        "lstm_sentiment_version": __version__,
    }
    for key, value in meta.items():
        graph.metadata_props.add(key=key, value=value)
    graph.doc_string = "lstm-sentiment model: int64 token ids [batch, sequence] -> probabilities"
    onnx.checker.check_model(graph)
    try:
        atomic_write_bytes(out, graph.SerializeToString())
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out
