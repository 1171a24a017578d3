"""Labelled datasets: one subset of a source, split exactly as Keras 2 does.

A source (see :mod:`lstm_sentiment.sources`, whose :func:`fetch` resolves it) is a dataset folder
or a table (read by :mod:`lstm_sentiment.tables`). Layout of a dataset folder::

    root/train/<class>/*.txt     labelled reviews, one folder per class (neg/, pos/ for IMDB)
    root/train/unsup/            unlabelled reviews: never a class
    root/test/<class>/*.txt      the official test split (never used for training or tuning)

or, with no ``train/`` and ``test/``, one folder per class directly (training data only).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np

from . import progress, streams, tables
from .errors import DataError, UserError
from .sources import (  # noqa: F401 (data.fetch and the rest: how a run finds its data)
    OFFICIAL_MD5,
    OFFICIAL_URL,
    TEXT_SUFFIX,
    UNLABELLED,
    cache_dir,
    class_dirs,
    describe,
    fetch,
    is_root,
)

SUBSETS = ("train", "validation", "test")


@dataclass
class Dataset:
    """One subset's labelled texts, with the class names their labels index.

    A folder's texts are read from disk each time they are iterated (:class:`TextFiles`), so a
    split is never all in memory unless a caller makes a list of it; a table's are a list.
    """

    subset: str
    texts: Sequence[str]
    labels: np.ndarray  # [N] int64, indices into class_names
    ids: list[str]  # where each text is: "train/pos/123_8.txt", or "reviews.csv:7"
    class_names: list[str]
    table_replaced: int = 0  # a table's lines whose undecodable bytes became U+FFFD

    @property
    def replaced(self) -> int:
        """Texts whose undecodable bytes became U+FFFD (a folder: in the last pass over them)."""
        return getattr(self.texts, "replaced_files", self.table_replaced)

    def counts(self) -> dict[str, int]:
        """Texts per class, and the total."""
        per_class = np.bincount(self.labels, minlength=len(self.class_names))
        return {**dict(zip(self.class_names, per_class.tolist(), strict=True)),
                "total": len(self)}

    def __len__(self) -> int:
        return len(self.labels)


# --------------------------------------------------------------------------------------------
# Listing and splitting, exactly as Keras 2's text_dataset_from_directory


def class_names(split_dir: Path) -> list[str]:
    """Sorted class folders of a split folder (``unsup`` excluded)."""
    if not split_dir.is_dir():
        raise DataError(f"missing folder {split_dir}")
    names = class_dirs(split_dir)
    if len(names) < 2:
        raise DataError(f"{split_dir} needs at least two class folders (such as neg/ and pos/), "
                        f"found {names or 'none'}")
    return names


def list_files(split_dir: Path, names: list[str]) -> tuple[list[str], list[int]]:
    """Relative paths (``<class>/<file>``) and labels in Keras's order.

    Keras 2 (``dataset_utils.index_directory``) walks each class folder in sorted class order,
    sorts the walk by directory path, and within a directory sorts the file names; only names
    ending in ``.txt`` (case-insensitive) count.
    """
    paths: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(names):
        class_dir = split_dir / name
        before = len(paths)
        for root, _dirs, files in sorted(os.walk(class_dir), key=lambda w: w[0]):
            rel_root = Path(root).relative_to(split_dir).as_posix()
            for fname in sorted(files):
                if fname.lower().endswith(TEXT_SUFFIX):
                    paths.append(f"{rel_root}/{fname}")
                    labels.append(label)
        if len(paths) == before:
            raise DataError(f"class folder {class_dir} holds no {TEXT_SUFFIX} files")
    return paths, labels


def keras_split(n: int, validation_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and validation subsets, as Keras 2 draws them.

    Keras shuffles the file list with ``np.random.RandomState(seed).shuffle`` and then takes the
    last ``int(validation_split * n)`` files for validation and the rest for training.
    """
    if not 0.0 < validation_split < 1.0:
        raise DataError(f"validation split must be between 0 and 1, got {validation_split}")
    order = np.arange(n)
    np.random.RandomState(seed).shuffle(order)
    n_val = int(validation_split * n)
    if n_val == 0 or n_val == n:
        raise DataError(f"{n} files are too few for a {validation_split} validation split")
    return order[:-n_val], order[-n_val:]


def split_paths(root: Path, subset: str, validation_split: float = 0.25,
                seed: int = 100) -> tuple[list[str], list[int], list[str]]:
    """Relative paths (from ``root``), labels and class names of one subset."""
    if subset not in SUBSETS:
        raise DataError(f"unknown split {subset!r} (choose from {', '.join(SUBSETS)})")
    folder = "test" if subset == "test" else "train"
    if not is_root(root):  # one folder per class, no train/test: training data only
        if subset == "test":
            raise DataError(f"{root} has no test/ folder; give the test data with --test-source")
        folder = ""
    split_dir = root / folder
    names = class_names(split_dir)
    paths, labels = list_files(split_dir, names)
    if subset != "test":
        paths, labels = _take_subset(paths, labels, subset, validation_split, seed)
    return [f"{folder}/{p}" if folder else p for p in paths], labels, names


def _take_subset(items: list[str], labels: list[int], subset: str, validation_split: float,
                 seed: int) -> tuple[list[str], list[int]]:
    train_idx, val_idx = keras_split(len(items), validation_split, seed)
    idx = train_idx if subset == "train" else val_idx
    return [items[i] for i in idx], [labels[i] for i in idx]


def load(root: Path, subset: str, validation_split: float = 0.25, seed: int = 100, *,
         text_field: str | None = None, label_field: str | None = None,
         class_names: list[str] | None = None) -> Dataset:
    """One subset of a source that :func:`fetch` resolved: a dataset folder or a table.

    A table's rows are split into training and validation as files are; as a test source, all
    its rows are the test set. ``class_names`` (a trained model's) fix the classes and their
    order: data with other classes is refused. Undecodable bytes become U+FFFD and are counted.
    """
    if subset not in SUBSETS:
        raise DataError(f"unknown split {subset!r} (choose from {', '.join(SUBSETS)})")
    if root.is_file():
        return _load_table(root, subset, validation_split, seed, text_field, label_field,
                           class_names)
    paths, labels, names = split_paths(root, subset, validation_split, seed)
    if class_names is not None and names != class_names:
        raise DataError(f"the data has classes {names} but the model was trained on "
                        f"{class_names}")
    return Dataset(subset, TextFiles(root, paths, f"read {subset}"),
                   np.asarray(labels, dtype=np.int64), paths, names)


def load_unlabelled(root: Path) -> list[str]:
    """The texts of ``train/unsup`` (IMDB's 50,000 unlabelled reviews) in file-name order, or
    none when the source has no such folder; undecodable bytes are replaced (U+FFFD)."""
    folder = root / "train" / UNLABELLED if root.is_dir() else None
    if folder is None or not folder.is_dir():
        return []
    names = sorted(f for f in os.listdir(folder) if f.lower().endswith(TEXT_SUFFIX))
    return [(folder / f).read_bytes().decode("utf-8", errors="replace")
            for f in progress.track(names, "read unlabelled")]


def read_text(path: Path) -> tuple[str, bool]:
    """A review file's text, and whether undecodable bytes in it were replaced by U+FFFD."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), True


class TextFiles(Sequence[str]):
    """The texts of files under ``root``, each read from disk when it is accessed.

    For passes over a large split (encoding the 25,000 test reviews; counting, then encoding the
    training reviews) without holding every text in memory at once; decoded as :func:`load`
    decodes. Iterating shows a progress bar, and counts the files whose undecodable bytes were
    replaced in :attr:`replaced_files` (of the last pass).
    """

    def __init__(self, root: Path, paths: list[str], description: str = "read") -> None:
        self.root = root
        self.paths = paths
        self.description = description
        self.replaced_files = 0

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[str]:
        replaced = 0
        for rel in progress.track(self.paths, self.description):
            text, was_replaced = read_text(self.root / rel)
            replaced += was_replaced
            yield text
        self.replaced_files = replaced

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [read_text(self.root / p)[0] for p in self.paths[index]]
        return read_text(self.root / self.paths[index])[0]


# --------------------------------------------------------------------------------------------
# Tables: CSV, TSV, JSONL (read by lstm_sentiment.tables)


def read_table(path: Path, text_field: str | None = None, label_field: str | None = None
               ) -> tuple[list[str], list[str], list[int], int]:
    """Texts, label strings and line numbers of a labelled table, and how many of its lines
    had undecodable bytes. Any bad row is an error naming its line: training is strict."""
    fmt = tables.table_format(path)
    if fmt is None:
        raise DataError(f"{path} is not a table (.csv, .tsv or .jsonl)")
    texts, labels, lines = [], [], []
    try:
        with streams.open_input(path) as source:
            table = tables.read(source, fmt, text_field=text_field, label_field=label_field,
                                labelled=True)
            for row in table.rows():
                if row.error is not None:
                    raise DataError(f"{path}:{row.line}: {row.error}")
                if row.label is None or row.label.strip() == "":
                    raise DataError(f"{path}:{row.line}: the {table.label_field!r} field is "
                                    "missing or empty")
                texts.append(row.text or "")
                labels.append(row.label.strip())
                lines.append(row.line)
            replaced = source.undecodable
    except DataError:
        raise
    except UserError as exc:  # the table's own structure
        raise DataError(str(exc)) from None
    if not texts:
        raise DataError(f"{path} has no rows")
    return texts, labels, lines, replaced


def _load_table(path: Path, subset: str, validation_split: float, seed: int,
                text_field: str | None, label_field: str | None,
                class_names: list[str] | None) -> Dataset:
    """One subset of a labelled table; class names are the sorted distinct labels."""
    texts, raw_labels, lines, replaced = read_table(path, text_field, label_field)
    names = class_names or sorted(set(raw_labels))
    if len(names) < 2:
        raise DataError(f"{path} has only one class ({names[0]!r}); need at least two")
    index = {name: i for i, name in enumerate(names)}
    ids = [f"{path.name}:{n}" for n in lines]
    labels = [index.get(y, -1) for y in raw_labels]
    if -1 in labels:
        bad = labels.index(-1)
        raise DataError(f"{path}:{lines[bad]}: label {raw_labels[bad]!r} is not one of "
                        f"{', '.join(names)}")
    if subset != "test":
        train_idx, val_idx = keras_split(len(texts), validation_split, seed)
        keep = (train_idx if subset == "train" else val_idx).tolist()
        texts, labels, ids = ([texts[i] for i in keep], [labels[i] for i in keep],
                              [ids[i] for i in keep])
    return Dataset(subset, texts, np.asarray(labels, dtype=np.int64), ids, names, replaced)


def paths_digest(paths: list[str]) -> str:
    """sha256 of relative paths, sorted, joined with newlines, with a final newline."""
    return hashlib.sha256(("\n".join(sorted(paths)) + "\n").encode("utf-8")).hexdigest()


def subsets_of(root: Path) -> tuple[str, ...]:
    """The subsets a source has: a table or a folder per class has no test split of its own."""
    if root.is_file() or not is_root(root):
        return ("train", "validation")
    return tuple(s for s in SUBSETS
                 if (root / ("test" if s == "test" else "train")).is_dir())


def inspect(root: Path, validation_split: float = 0.25, seed: int = 100, *,
            text_field: str | None = None, label_field: str | None = None) -> dict[str, object]:
    """Counts per subset and class, and the digests that pin the split."""
    report: dict[str, object] = {"root": str(root)}
    counts: dict[str, dict[str, int]] = {}
    for subset in subsets_of(root):
        dataset = load(root, subset, validation_split, seed, text_field=text_field,
                       label_field=label_field)
        counts[subset] = dataset.counts()
        report[f"{subset}_digest"] = paths_digest(dataset.ids)
    unsup = root / "train" / UNLABELLED
    if unsup.is_dir():
        counts["unsup"] = {"total": sum(1 for f in unsup.iterdir()
                                        if f.name.lower().endswith(TEXT_SUFFIX))}
    report["counts"] = counts
    report["validation_split"] = validation_split
    report["split_seed"] = seed
    return report
