"""Pictures: training curves and the LSTM's gates over the words of a text (matplotlib)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UserError
from .fileio import atomic_write_bytes
from .predict import GateTrace

FORMATS = ("png", "svg", "pdf")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, out: Path) -> None:
    """Render to memory, then write atomically (a failed write leaves no half image)."""
    fmt = out.suffix.lstrip(".").lower() or "png"
    if fmt not in FORMATS:
        raise UserError(f"cannot write {out}: choose a .png, .svg or .pdf file name")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=120)
    _pyplot().close(fig)
    try:
        atomic_write_bytes(out, buf.getvalue())
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None


def plot_history(history: list[dict[str, float]], out: Path, title: str = "") -> None:
    """Loss and accuracy per epoch, training and validation, side by side."""
    if not history:
        raise UserError("this model has no training history to plot")
    plt = _pyplot()
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, key, name in ((axes[0], "loss", "loss"), (axes[1], "acc", "accuracy")):
        ax.plot(epochs, [h[key] for h in history], "o-", label=f"training {name}")
        if all(f"val_{key}" in h for h in history):
            ax.plot(epochs, [h[f"val_{key}"] for h in history], "s-",
                    label=f"validation {name}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    _save(fig, out)


def plot_gates(trace: GateTrace, out: Path, title: str = "") -> None:
    """Heat maps of the input, forget and output gates and the candidate over the words, with
    the cell and hidden state norms below; one column per word, one row per hidden unit."""
    if not trace.tokens:
        raise UserError("the text has no words to trace")
    plt = _pyplot()
    n = len(trace.tokens)
    panels = [("input gate i", trace.input_gate, "viridis", (0, 1)),
              ("forget gate f", trace.forget_gate, "viridis", (0, 1)),
              ("output gate o", trace.output_gate, "viridis", (0, 1)),
              ("candidate C~", trace.candidate, "coolwarm", (-1, 1))]
    width = min(max(6.0, 0.32 * n + 2.5), 40.0)
    fig, axes = plt.subplots(len(panels) + 1, 1, figsize=(width, 11), sharex=True,
                             constrained_layout=True,
                             gridspec_kw={"height_ratios": [3] * len(panels) + [1.6]})
    for ax, (name, values, cmap, (lo, hi)) in zip(axes, panels, strict=False):
        image = ax.imshow(np.asarray(values).T, aspect="auto", cmap=cmap, vmin=lo, vmax=hi,
                          interpolation="nearest")
        ax.set_ylabel(f"{name}\nunit")
        fig.colorbar(image, ax=ax, fraction=0.02, pad=0.01)
    steps = np.arange(n)
    axes[-1].plot(steps, trace.cell_norm, "o-", label="|C| cell state")
    axes[-1].plot(steps, trace.hidden_norm, "s-", label="|h| hidden state")
    axes[-1].set_ylabel("norm")
    axes[-1].legend(loc="upper left", fontsize=8)
    axes[-1].grid(alpha=0.3)
    labels = [w if k else f"{w}*" for w, k in zip(trace.tokens, trace.known, strict=True)]
    axes[-1].set_xticks(steps, labels, rotation=60, ha="right", fontsize=8)
    fig.suptitle(title or f"LSTM gates per word (score {trace.score:.3f}; * = not in vocabulary)")
    _save(fig, out)
