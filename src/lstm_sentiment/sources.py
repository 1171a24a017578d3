"""Find, download, verify and safely extract datasets: a source becomes a folder (or a table).

A *source* is a folder (the ``aclImdb`` folder or one that holds it, or one folder per class),
a ``.tar.gz`` archive, an http(s)/file URL of one, or a CSV/TSV/JSONL table. Archives are
extracted once into the cache (``~/.cache/lstm-sentiment`` or ``$LSTM_SENTIMENT_CACHE``) with
the standard library's ``data`` filter, so no member can land outside the target, be a device
file, or link out of it. Downloads stream to a temp file with a progress bar, are verified
against a checksum, then renamed into the cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

from . import progress, tables
from .errors import DataError

OFFICIAL_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
OFFICIAL_MD5 = "7c2ac02c03563afcf9b574c7e56c153a"
UNLABELLED = "unsup"  # IMDB's folder of unlabelled reviews; never a class
TEXT_SUFFIX = ".txt"  # what Keras's text_dataset_from_directory reads
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz", ".gz")
_CHUNK = 1 << 20


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
    if tables.table_format(path):
        return path
    if not path.name.lower().endswith(ARCHIVE_SUFFIXES) and not tarfile.is_tarfile(path):
        raise DataError(f"{path} is neither a dataset folder nor a .tar.gz archive")
    return find_root(extract(path, cache / "extracted"))


def describe(source: str | None) -> dict[str, str]:
    """Where a source's data came from, with no machine path in it: an archive's or a table's
    file name and sha256 (a URL's too, from the verified download), or a folder's name."""
    source = source or OFFICIAL_URL
    if is_url(source):
        name = Path(urllib.parse.urlparse(source).path).name or "download"
        found: dict[str, str] = {"name": name, "url": source}
        downloaded = cache_dir() / "downloads" / name
        if downloaded.is_file():
            found["sha256"] = _digest(downloaded, "sha256")
        return found
    path = Path(source).expanduser()
    if path.is_dir():
        return {"name": path.resolve().name}
    return {"name": path.name, "sha256": _digest(path, "sha256")}


def find_root(path: Path) -> Path:
    """The folder holding ``train/`` and/or ``test/``: ``path`` itself or its only such child;
    or, failing that, ``path`` itself when it holds class folders directly (no test split)."""
    if is_root(path):
        return path
    children = [c for c in sorted(path.iterdir()) if c.is_dir() and is_root(c)]
    if len(children) == 1:
        return children[0]
    if not children and len(class_dirs(path)) >= 2:
        return path
    raise DataError(f"{path} holds no dataset: expected train/ and test/ folders "
                    "(the aclImdb folder or a folder holding it), or one folder per class")


def is_root(path: Path) -> bool:
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


def class_dirs(folder: Path) -> list[str]:
    return sorted(d.name for d in folder.iterdir() if d.is_dir() and d.name != UNLABELLED)
