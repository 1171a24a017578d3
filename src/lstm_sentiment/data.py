"""Find, download, verify and safely extract review datasets; split them exactly as Keras 2 does.

A *source* is a folder (the ``aclImdb`` folder or one that holds it), a ``.tar.gz`` archive, or
an http(s)/file URL of one. Archives are extracted once into the cache (``~/.cache/lstm-sentiment``
or ``$LSTM_SENTIMENT_CACHE``) with the standard library's ``data`` filter, so no member can land
outside the target, be a device file, or link out of it.

Layout of a dataset root::

    root/train/<class>/*.txt     labelled reviews, one folder per class (neg/, pos/ for IMDB)
    root/train/unsup/            unlabelled reviews: never a class
    root/test/<class>/*.txt      the official test split (never used for training or tuning)
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np

from . import progress
from .errors import DataError

OFFICIAL_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
OFFICIAL_MD5 = "7c2ac02c03563afcf9b574c7e56c153a"
UNLABELLED = "unsup"  # IMDB's folder of unlabelled reviews; never a class
TEXT_SUFFIX = ".txt"  # what Keras's text_dataset_from_directory reads
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz", ".gz")
SUBSETS = ("train", "validation", "test")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Example:
    text: str
    label: int
    path: str  # relative to the dataset root, with "/" separators: "train/pos/123_8.txt"


@dataclass
class Dataset:
    """Labelled examples of one subset, with the class names their labels index."""

    subset: str
    examples: list[Example]
    class_names: list[str]
    replaced_files: int = 0  # files whose undecodable bytes were replaced by U+FFFD

    @property
    def texts(self) -> list[str]:
        return [e.text for e in self.examples]

    @property
    def labels(self) -> np.ndarray:
        return np.fromiter((e.label for e in self.examples), dtype=np.int64,
                           count=len(self.examples))

    def __len__(self) -> int:
        return len(self.examples)


# --------------------------------------------------------------------------------------------
# Sources: folder, archive, URL


def cache_dir() -> Path:
    """Where downloads and extracted archives live."""
    env = os.environ.get("LSTM_SENTIMENT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lstm-sentiment"


def is_url(source: str) -> bool:
    return urllib.parse.urlparse(source).scheme in ("http", "https", "file")


def fetch(source: str | None = None, *, sha256: str | None = None,
          cache: Path | None = None) -> Path:
    """Resolve a source to a dataset root folder, downloading and extracting as needed.

    The official URL is verified against its published md5 unless ``sha256`` is given; any other
    URL or archive is verified when ``sha256`` is given.
    """
    source = source or OFFICIAL_URL
    cache = cache or cache_dir()
    if is_url(source):
        md5 = OFFICIAL_MD5 if source == OFFICIAL_URL and sha256 is None else None
        archive = download(source, cache / "downloads", sha256=sha256, md5=md5)
        return find_root(extract(archive, cache / "extracted"))
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"source not found: {path}")
    if path.is_dir():
        if sha256:
            raise DataError("--sha256 checks an archive or a download, not a folder")
        return find_root(path)
    if sha256:
        _verify(path, _digest(path, "sha256"), sha256, "sha256")
    if table_format(path):
        return path
    if not path.name.lower().endswith(ARCHIVE_SUFFIXES) and not tarfile.is_tarfile(path):
        raise DataError(f"{path} is neither a dataset folder nor a .tar.gz archive")
    return find_root(extract(path, cache / "extracted"))


def find_root(path: Path) -> Path:
    """The folder holding ``train/`` and/or ``test/``: ``path`` itself or its only such child;
    or, failing that, ``path`` itself when it holds class folders directly (no test split)."""
    if _is_root(path):
        return path
    children = [c for c in sorted(path.iterdir()) if c.is_dir() and _is_root(c)]
    if len(children) == 1:
        return children[0]
    if not children and len(_class_dirs(path)) >= 2:
        return path
    raise DataError(f"{path} holds no dataset: expected train/ and test/ folders "
                    "(the aclImdb folder or a folder holding it), or one folder per class")


def _is_root(path: Path) -> bool:
    return (path / "train").is_dir() or (path / "test").is_dir()


def download(url: str, dest_dir: Path, *, sha256: str | None = None,
             md5: str | None = None) -> Path:
    """Stream ``url`` to a temp file with a progress bar, verify it, then move it into place.

    A file already in ``dest_dir`` that passes the same check is reused.
    """
    name = Path(urllib.parse.urlparse(url).path).name or "download"
    target = dest_dir / name
    algo, expected = ("sha256", sha256) if sha256 else ("md5", md5) if md5 else (None, None)
    if target.exists() and algo and expected and _digest(target, algo) == expected.lower():
        return target
    dest_dir.mkdir(parents=True, exist_ok=True)
    hashes = {"sha256": hashlib.sha256(), "md5": hashlib.md5()}
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest_dir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = response.headers.get("Content-Length")
            with progress.bar(f"download {name}", int(total) if total else None,
                              unit="bytes") as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    for h in hashes.values():
                        h.update(chunk)
                    bar.advance(0, len(chunk))
        if algo and expected:
            _verify(Path(url), hashes[algo].hexdigest(), expected, algo)
        os.replace(tmp, target)
    except urllib.error.HTTPError as exc:
        raise DataError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DataError(f"cannot download {url}: {getattr(exc, 'reason', exc)}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def extract(archive: Path, dest_parent: Path) -> Path:
    """Extract a tar archive once into ``dest_parent/<sha256 prefix>`` and return that folder.

    Extraction goes to a temp folder first and is renamed into place when complete, so a broken
    or interrupted extraction never leaves a half-filled cache entry.
    """
    digest = _digest(archive, "sha256")
    target = dest_parent / digest[:16]
    if target.is_dir():
        return target
    dest_parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest_parent))
    try:
        with tarfile.open(archive, "r:*") as tar, \
                progress.bar(f"extract {archive.name}", archive.stat().st_size,
                             unit="bytes") as bar:
            fileobj = tar.fileobj
            for member in tar:
                tar.extract(member, tmp, filter="data")
                if fileobj is not None:
                    bar.update(0, completed=_compressed_pos(fileobj))
        os.replace(tmp, target)
    except tarfile.FilterError as exc:
        raise DataError(f"unsafe archive {archive}: {exc}") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        reason = str(exc).splitlines()[0].rstrip(":") if str(exc) else type(exc).__name__
        raise DataError(f"corrupt or truncated archive {archive}: {reason}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _compressed_pos(fileobj: object) -> int:
    raw = getattr(fileobj, "fileobj", fileobj)  # gzip wraps the real file
    try:
        return int(raw.tell())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return 0


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _verify(path: Path, actual: str, expected: str, algo: str) -> None:
    if actual != expected.lower():
        raise DataError(f"{algo} mismatch for {path.name}: expected {expected.lower()}, "
                        f"got {actual}")


# --------------------------------------------------------------------------------------------
# Listing and splitting, exactly as Keras 2's text_dataset_from_directory


def _class_dirs(folder: Path) -> list[str]:
    return sorted(d.name for d in folder.iterdir() if d.is_dir() and d.name != UNLABELLED)


def class_names(split_dir: Path) -> list[str]:
    """Sorted class folders of a split folder (``unsup`` excluded)."""
    if not split_dir.is_dir():
        raise DataError(f"missing folder {split_dir}")
    names = _class_dirs(split_dir)
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
    if not _is_root(root):  # one folder per class, no train/test: training data only
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
         text_field: str | None = None, label_field: str | None = None) -> Dataset:
    """Read one subset's reviews; undecodable bytes are replaced (U+FFFD) and counted.

    ``root`` is a dataset folder or a table (CSV/TSV/JSONL). A table's rows are split into
    training and validation like files are; as a test source, all its rows are the test set.
    """
    if root.is_file():
        return load_table(root, subset, validation_split, seed, text_field=text_field,
                          label_field=label_field)
    paths, labels, names = split_paths(root, subset, validation_split, seed)
    examples: list[Example] = []
    replaced = 0
    for rel, label in zip(progress.track(paths, f"read {subset}"), labels, strict=True):
        text, was_replaced = read_text(root / rel)
        replaced += was_replaced
        examples.append(Example(text, label, rel))
    return Dataset(subset, examples, names, replaced)


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
# Tables: CSV, TSV, JSONL

TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl",
                  ".ndjson": "jsonl"}
TEXT_FIELDS = ("text", "review", "sentence", "content")
LABEL_FIELDS = ("label", "sentiment", "class", "target")


def table_format(path: Path) -> str | None:
    return TABLE_SUFFIXES.get(path.suffix.lower())


def find_field(fields: Sequence[str], wanted: str | None,
               defaults: tuple[str, ...] = TEXT_FIELDS) -> str | None:
    """The field of a table's header (or a JSON object's keys) to read, or None if there is none:
    ``wanted`` when given and present; else the first of ``defaults`` present, spelled exactly,
    then ignoring case and surrounding spaces where that matches a single field (`` Text``).
    Training (:func:`read_table`) and scoring (``score.py``) pick fields alike through this."""
    if wanted is not None:
        return wanted if wanted in fields else None
    for name in defaults:
        if name in fields:
            return name
    for name in defaults:
        loose = [f for f in fields if f.strip().lower() == name]
        if len(loose) == 1:
            return loose[0]
    return None


def _pick(fields: list[str], wanted: str | None, defaults: tuple[str, ...], what: str,
          path: Path) -> str:
    found = find_field(fields, wanted, defaults)
    if found is not None:
        return found
    if wanted is not None:
        raise DataError(f"{path} has no {what} field {wanted!r} (fields: "
                        f"{', '.join(fields) or 'none'})")
    flag = "--text-field" if what == "text" else "--label-field"
    raise DataError(f"{path}: which field holds the {what}? none of {', '.join(defaults)} "
                    f"found (fields: {', '.join(fields) or 'none'}); use {flag}")


def read_table(path: Path, text_field: str | None = None,
               label_field: str | None = None) -> tuple[list[str], list[str], list[int], int]:
    """Texts, label strings, line numbers, and how many undecodable bytes became U+FFFD."""
    fmt = table_format(path)
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig", errors="replace")
    replaced = text.count("\ufffd") - raw.decode("utf-8-sig", errors="ignore").count("\ufffd")
    rows: list[tuple[int, dict[str, object]]] = []
    if fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise DataError(f"{path}:{number}: invalid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{number}: expected a JSON object per line")
            rows.append((number, row))
        fields = sorted({k for _, r in rows for k in r})
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""),
                                delimiter="\t" if fmt == "tsv" else ",")
        fields = list(reader.fieldnames or [])
        rows = [(reader.line_num, dict(r)) for r in reader]
    if not rows:
        raise DataError(f"{path} has no rows")
    tf = _pick(fields, text_field, TEXT_FIELDS, "text", path)
    lf = _pick(fields, label_field, LABEL_FIELDS, "label", path)
    texts, labels, lines = [], [], []
    for number, row in rows:
        t, y = row.get(tf), row.get(lf)
        if not isinstance(t, str):
            raise DataError(f"{path}:{number}: the {tf!r} field is missing or not text")
        if y is None or isinstance(y, (dict, list)) or str(y).strip() == "":
            raise DataError(f"{path}:{number}: the {lf!r} field is missing or empty")
        texts.append(t)
        labels.append(str(y).strip())
        lines.append(number)
    return texts, labels, lines, max(replaced, 0)


def load_table(path: Path, subset: str, validation_split: float = 0.25, seed: int = 100, *,
               text_field: str | None = None, label_field: str | None = None,
               class_names: list[str] | None = None) -> Dataset:
    """One subset of a labelled table; class names are the sorted distinct labels."""
    if subset not in SUBSETS:
        raise DataError(f"unknown split {subset!r} (choose from {', '.join(SUBSETS)})")
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
    examples = [Example(t, y, p) for t, y, p in zip(texts, labels, ids, strict=True)]
    return Dataset(subset, examples, names, replaced)


def paths_digest(paths: list[str]) -> str:
    """sha256 of relative paths, sorted, joined with newlines, with a final newline."""
    return hashlib.sha256(("\n".join(sorted(paths)) + "\n").encode("utf-8")).hexdigest()


def inspect(root: Path, validation_split: float = 0.25, seed: int = 100) -> dict[str, object]:
    """Counts per subset and class, and the digests that pin the split."""
    report: dict[str, object] = {"root": str(root)}
    counts: dict[str, dict[str, int]] = {}
    for subset in SUBSETS:
        folder = root / ("test" if subset == "test" else "train")
        if not folder.is_dir():
            continue
        paths, labels, names = split_paths(root, subset, validation_split, seed)
        counts[subset] = {name: labels.count(i) for i, name in enumerate(names)}
        counts[subset]["total"] = len(paths)
        report[f"{subset}_digest"] = paths_digest(paths)
    unsup = root / "train" / UNLABELLED
    if unsup.is_dir():
        counts["unsup"] = {"total": sum(1 for f in unsup.iterdir()
                                        if f.name.lower().endswith(TEXT_SUFFIX))}
    report["counts"] = counts
    report["validation_split"] = validation_split
    report["split_seed"] = seed
    return report
