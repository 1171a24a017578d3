"""ONNX export: a trained model as one graph, from token ids to probabilities.

>>> from lstm_sentiment import SentimentModel
>>> from lstm_sentiment.export import export_onnx
>>> export_onnx(SentimentModel.load("runs/seed"), Path("seed.onnx"))   # doctest: +SKIP

The graph
    input ``ids``: int64 ``[batch, sequence]``, the rows :meth:`SentimentModel.encode` gives
    (``tokenizer.json`` in the model folder turns text into them), 0 = padding, only at the end
    of a row. Output ``probabilities``: float32 ``[batch]`` = p(positive) for a two-class model,
    or ``[batch, classes]`` softmax probabilities otherwise. Both axes are dynamic.
    :func:`onnx_graph` with ``logits=True`` makes the same graph with the logits as output
    (``logits``), which the ``onnxruntime`` runtime (:mod:`lstm_sentiment.runtime`) runs.

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
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ._version import __version__
from .errors import UserError
from .fileio import atomic_write_bytes
from .model import Network

if TYPE_CHECKING:
    from .predict import SentimentModel

OPSET = 17
INPUT = "ids"
OUTPUT = "probabilities"
LOGITS = "logits"  # the output of a graph made with ``logits=True`` (the onnxruntime runtime's)


class ExportLogits(nn.Module):
    """The network with its Python-side shape decisions turned off
    (:meth:`~lstm_sentiment.model.Network.for_export`), its logits as output."""

    def __init__(self, network: Network) -> None:
        super().__init__()
        self.network = network.for_export()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.network(ids)


class ExportProbabilities(ExportLogits):
    """As :class:`ExportLogits`, the head's probabilities as output."""

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.network.classifier.output(self.network(ids))


def onnx_graph(network: Network, labels: list[str], sequence_length: int, *,
               logits: bool = False, hashed: bool = False, opset: int = OPSET) -> Any:
    """``network`` as a checked ``onnx.ModelProto`` with the module docstring's metadata.

    ``logits``: the output is the network's logits (named :data:`LOGITS`: ``[batch]`` for two
    classes, else ``[batch, classes]``) instead of its probabilities, so that a caller can
    combine a long text's windows by their logits as :meth:`SentimentModel.read` does.
    ``hashed``: an n-gram branch looks its keys up in a hash table (the ``ai.onnx.ml``
    LabelEncoder, which ONNX Runtime has) instead of a binary search of standard operators.
    Raises :class:`UserError` when the ``onnx`` package is missing.
    """
    try:
        import onnx
    except ImportError:
        raise UserError("ONNX export needs the onnx package: "
                        "pip install 'lstm-sentiment[export]'") from None
    forward = (ExportLogits if logits else ExportProbabilities)(network)
    tables = [module for module in forward.modules() if hasattr(module, "hashed")]
    for module in tables:
        module.hashed = hashed
    output = LOGITS if logits else OUTPUT
    example = torch.ones(2, sequence_length, dtype=torch.long)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # the legacy exporter's deprecation notice, and the tracer's notes on shapes it records
        warnings.simplefilter("ignore")
        torch.onnx.export(forward, (example,), buffer, dynamo=False, opset_version=opset,
                          input_names=[INPUT], output_names=[output],
                          dynamic_axes={INPUT: {0: "batch", 1: "sequence"},
                                        output: {0: "batch"}},
                          custom_opsets={"ai.onnx.ml": 2} if hashed and tables else None)
    graph = onnx.load_from_string(buffer.getvalue())
    described = ("logits per row (p = sigmoid for two classes, else softmax over the row)"
                 if logits else network.classifier.describe_output(labels))
    meta = {
        "labels": json.dumps(labels),
        "sequence_length": str(sequence_length),
        "mask_padding": json.dumps(network.config.mask_padding),
        "output": described,
        "lstm_sentiment_version": __version__,
    }
    for key, value in meta.items():
        graph.metadata_props.add(key=key, value=value)
    graph.doc_string = f"lstm-sentiment model: int64 token ids [batch, sequence] -> {output}"
    onnx.checker.check_model(graph)
    return graph


def export_onnx(model: SentimentModel, out: Path, *, opset: int = OPSET) -> Path:
    """Write ``model`` as an ONNX graph to ``out`` (atomically) and return the path.

    See the module docstring for the graph's input, output and metadata. Raises
    :class:`UserError` when the ``onnx`` package is missing or ``out`` cannot be written.
    """
    out = Path(out)
    graph = onnx_graph(model.network, model.labels, model.config.text.sequence_length,
                       opset=opset)
    try:
        atomic_write_bytes(out, graph.SerializeToString())
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out
