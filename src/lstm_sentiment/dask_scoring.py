"""Score a Dask DataFrame partition by partition, on as many machines as the cluster has.

>>> import dask.dataframe as dd                                         # doctest: +SKIP
>>> from lstm_sentiment.dask_scoring import score_dataframe
>>> reviews = dd.read_csv("reviews-*.csv", dtype=str, keep_default_na=False)  # doctest: +SKIP
>>> score_dataframe(reviews, "/models/seed").to_parquet("scored/")      # doctest: +SKIP

:func:`score_partition` is the work one partition gets (a pandas DataFrame in, the same frame
with ``label``, ``score`` and ``error`` columns added out); :func:`score_dataframe` maps it over
a Dask DataFrame with the ``meta`` Dask needs (:func:`output_meta`). The rows, the text column
and the three new columns follow :mod:`lstm_sentiment.score`'s rules: the text column is
``text_column`` when given, else the first of ``text``, ``review``, ``sentence``, ``content``
(see :func:`lstm_sentiment.tables.find_field`), else the only column; ``prefix`` goes before
the new names, and a frame that has one of them already is refused. ``score`` is float32 (NaN
where there is no label); ``label`` and ``error`` are pandas strings (``pd.StringDtype()``),
missing (``pd.NA``) where empty.

``error`` says why a row has no label. ``score`` starts it with the row's line in the file; a
partition has no lines, so here it is the reason alone (the row's index says which row it is):
``predict``'s reason for a text with no words or no known word, or, for a value that is not a
string (None, NaN, a number), that the text is missing or not a string.

Each worker process loads a model once, the first time one of its tasks asks for it, and keeps
it (:func:`model_for`); the tasks carry only the model's path. The model folder must therefore
be at that path on every worker (or use ``"bundled"``), and lstm-sentiment must be installed
there, since Dask sends :func:`score_partition` by name. Importing this module imports neither
Dask nor pandas (pandas comes in when a frame is scored), and ``import lstm_sentiment`` does
not import this module; :func:`score_partition` works on plain pandas frames without Dask.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .artifact import BUNDLED
from .errors import UserError
from .score import predictions
from .tables import TEXT_FIELDS, find_field, listing

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

    from .predict import SentimentModel

__all__ = ["load_counts", "model_for", "output_meta", "output_names", "pick_text_column",
           "score_dataframe", "score_partition"]

ModelPath = str | os.PathLike[str]
NAMES = ("label", "score", "error")

# One process's models by path. Safe to share: a loaded model is only read (inference changes
# nothing in it, and serve's threads share one model the same way), the lock keeps two threads
# of one worker from loading a model twice, and the dict never travels (Dask sends this
# module's functions by name, not its state), so each worker process fills its own.
_MODELS: dict[str, SentimentModel] = {}
_LOADS: Counter[str] = Counter()
_LOCK = threading.Lock()


def _key(model: ModelPath) -> str:
    return BUNDLED if str(model) == BUNDLED else str(Path(model).absolute())


def model_for(model: ModelPath) -> SentimentModel:
    """The model at ``model`` (a folder or ``"bundled"``), loaded once in this process and
    kept. A folder rewritten in place is not loaded again: give a new model a new path."""
    key = _key(model)
    with _LOCK:
        if key not in _MODELS:
            from .predict import SentimentModel

            _MODELS[key] = SentimentModel.load(key)
            _LOADS[key] += 1
        return _MODELS[key]


def load_counts() -> dict[str, int]:
    """How many times this process has loaded each model (by path): one each, unless
    something is wrong. Run it on every worker with ``client.run(load_counts)``."""
    with _LOCK:
        return dict(_LOADS)


def output_names(prefix: str = "") -> tuple[str, str, str]:
    """The names of the three columns added, with ``prefix``."""
    label, score, error = (prefix + name for name in NAMES)
    return label, score, error


def pick_text_column(columns: Any, wanted: Any = None, prefix: str = "") -> Any:
    """The column of ``columns`` that holds the texts, by ``score``'s rules; :class:`UserError`
    when there is none, when it repeats, or when a column has one of the output names."""
    fields = list(columns)
    clash = [name for name in output_names(prefix) if name in fields]
    if clash:
        raise UserError(f"the frame already has a column named {listing(clash)}; give the new "
                        "columns a prefix (e.g. prefix='pred_' for pred_label, pred_score, "
                        "pred_error)")
    names = [str(field) for field in fields]  # find_field reads names; pandas allows others
    found = find_field(names, None if wanted is None else str(wanted))
    if found is None and wanted is None and len(fields) == 1:
        found = names[0]  # a table of one column is its texts
    if found is None:
        if wanted is not None:
            raise UserError(f"the frame has no text column {wanted!r} "
                            f"(columns: {listing(names)})")
        raise UserError(f"which column holds the text? none of {listing(list(TEXT_FIELDS))} "
                        f"found (columns: {listing(names)}); use text_column=")
    if names.count(found) > 1:
        raise UserError(f"the frame has {names.count(found)} columns named {found!r}")
    return fields[names.index(found)]


def _not_text(column: Any, value: Any) -> str:
    """Why a value of the text column is no text to score."""
    import pandas as pd

    if pd.api.types.is_scalar(value) and pd.isna(value):  # None, NaN, pd.NA, NaT
        return f"the text ({column!r}) is missing"
    return f"the text ({column!r}) is {type(value).__name__}, not a string"


def _attach(frame: pd.DataFrame, names: tuple[str, str, str], labels: list[str | None],
            scores: list[Any], errors: list[str | None]) -> pd.DataFrame:
    """``frame`` with the three columns added: one function for the data and its meta, so
    the two cannot disagree on names, order or dtypes."""
    import numpy as np
    import pandas as pd

    values = np.array([np.nan if s is None else s for s in scores], dtype=np.float32)
    out = frame.copy(deep=False)
    # pandas' string dtype, not object: Parquet writers cannot tell an object column's type
    out[names[0]] = pd.Series(labels, index=frame.index, dtype=pd.StringDtype())
    out[names[1]] = pd.Series(values, index=frame.index, dtype=np.float32)
    out[names[2]] = pd.Series(errors, index=frame.index, dtype=pd.StringDtype())
    return out


def output_meta(meta: pd.DataFrame, text_column: str | None = None,
                prefix: str = "") -> pd.DataFrame:
    """The empty frame that describes :func:`score_partition`'s output for input ``meta``
    (a Dask DataFrame's ``_meta``, or any frame with its columns): what ``map_partitions``
    takes as ``meta``."""
    pick_text_column(meta.columns, text_column, prefix)
    return _attach(meta.iloc[:0], output_names(prefix), [], [], [])


def score_partition(frame: pd.DataFrame, model: ModelPath = BUNDLED,
                    text_column: str | None = None, prefix: str = "") -> pd.DataFrame:
    """``frame`` with ``label``, ``score`` and ``error`` (``prefix`` before each) added, rows
    and index as they were: what ``score`` writes for the same rows, ``error`` without the
    line. ``model`` is a model folder's path or ``"bundled"``, loaded once per process."""
    column = pick_text_column(frame.columns, text_column, prefix)
    texts: list[str | None] = []
    errors: list[str | None] = []
    for value in frame[column].tolist():
        is_text = isinstance(value, str)
        texts.append(value if is_text else None)
        errors.append(None if is_text else _not_text(column, value))
    if any(text is not None for text in texts):
        labels, scores, reasons = predictions(model_for(model), texts)
    else:  # nothing to read: the model need not even be loaded
        labels, scores, reasons = [None] * len(texts), [None] * len(texts), [None] * len(texts)
    errors = [error or reason for error, reason in zip(errors, reasons, strict=True)]
    return _attach(frame, output_names(prefix), labels, scores, errors)


def score_dataframe(ddf: dd.DataFrame, model: ModelPath = BUNDLED,
                    text_column: str | None = None, prefix: str = "") -> dd.DataFrame:
    """``ddf`` with every partition scored by :func:`score_partition` (lazily: nothing runs
    until the result is computed or written). The text column and the new names are checked
    here, before any work; a relative ``model`` path is made absolute from this process's
    working directory, which the workers need not share."""
    meta = output_meta(ddf._meta, text_column, prefix)
    column = pick_text_column(ddf.columns, text_column, prefix)
    path = model if str(model) == BUNDLED else str(Path(model).absolute())
    return ddf.map_partitions(score_partition, model=path, text_column=column, prefix=prefix,
                              meta=meta)
