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

import copy
import io
import json
import warnings
from pathlib import Path

import torch
from torch import nn

from ._version import __version__
from .errors import UserError
from .fileio import atomic_write_bytes
from .model import HybridLSTM, PooledLSTM, SentimentLSTM
from .predict import SentimentModel

OPSET = 17
INPUT = "ids"
OUTPUT = "probabilities"


class ExportForward(nn.Module):
    """The network's forward pass with no Python-side shapes: ids ``[B, T]`` to probabilities.

    Holds a fused ``torch.nn.LSTM`` with the network's LSTM weights (a model on the reference
    LSTM exports the same way) and runs it over all ``T`` steps in one call.
    """

    def __init__(self, network: SentimentLSTM) -> None:
        super().__init__()
        cfg = network.config
        self.mask_padding = cfg.mask_padding
        self.hidden_size = cfg.hidden_size
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embedding_dim)
        self.lstm = nn.LSTM(cfg.embedding_dim, cfg.hidden_size, batch_first=True)
        self.head = nn.Linear(cfg.hidden_size, network.head.out_features)
        self.embedding.load_state_dict(network.embedding.state_dict())
        self.lstm.load_state_dict(network.lstm.state_dict())
        self.head.load_state_dict(network.head.state_dict())
        self.eval()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, (h_n, _) = self.lstm(self.embedding(ids))
        if self.mask_padding:
            lengths = (ids != 0).sum(dim=1)
            step = (lengths - 1).clamp(min=0)
            index = step.view(-1, 1, 1).expand(-1, 1, self.hidden_size)
            last = out.gather(1, index)[:, 0]
            # an empty row keeps the zero initial state, as in SentimentLSTM
            last = last * (lengths > 0).unsqueeze(1).to(last.dtype)
        else:
            last = h_n[-1]
        logits = self.head(last)
        if logits.shape[-1] == 1:  # fixed by the head's size, not by the input
            return torch.sigmoid(logits[:, 0])
        return torch.softmax(logits, dim=-1)


class ExportProbabilities(nn.Module):
    """A copy of a pooled or hybrid network with its Python-side shape decisions turned off
    (see :attr:`PooledLSTM.trim`), and probabilities as output."""

    def __init__(self, network: PooledLSTM | HybridLSTM) -> None:
        super().__init__()
        self.network = copy.deepcopy(network).cpu().eval()
        recurrent = getattr(self.network, "recurrent", self.network)
        if not isinstance(recurrent, PooledLSTM):
            raise UserError("ONNX export of this network layout is not supported")
        recurrent.trim = False
        recurrent.max_steps = None
        if isinstance(self.network, HybridLSTM):
            self.network.ngrams.trim = False
        if not isinstance(recurrent.lstm, nn.LSTM):  # the reference LSTM exports as fused
            for name in ("lstm", "lstm_backward"):
                old = getattr(recurrent, name)
                if old is not None:
                    fused = nn.LSTM(old.input_size, old.hidden_size, batch_first=True)
                    fused.load_state_dict(old.state_dict())
                    setattr(recurrent, name, fused)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        logits = self.network(ids)
        return torch.sigmoid(logits) if logits.dim() == 1 else torch.softmax(logits, dim=-1)


def _export_module(network: nn.Module) -> nn.Module:
    if isinstance(network, SentimentLSTM):
        return ExportForward(network)
    if isinstance(network, PooledLSTM | HybridLSTM):
        return ExportProbabilities(network)
    raise UserError(f"ONNX export does not know the network {type(network).__name__}")


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
    forward = _export_module(model.network).cpu()
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
    two = model.config.model.num_classes == 2
    meta = {
        "labels": json.dumps(model.labels),
        "sequence_length": str(model.config.text.sequence_length),
        "mask_padding": json.dumps(model.config.model.mask_padding),
        "output": (f"p({model.labels[1]}) per row" if two
                   else "softmax probabilities per row, columns in the order of labels"),
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
