"""data.py: sources, downloads with checksums, safe extraction, and the Keras-identical split."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_archive, make_imdb

from lstm_sentiment import data, sources
from lstm_sentiment.errors import DataError

PINS = json.loads((Path(__file__).parent / "fixtures/keras_truth/pins.json").read_text())
# Keras 2.15 on the full IMDB train folder, seed 100, split 0.25 (tools/keras_reference/split.py)
KERAS_VALIDATION_DIGEST = "76f6733b44deb3cbcbc18ba3660ce4af2519bb5f9668da84b9917b1364f785c9"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server serving a temp folder; yields (base URL, folder)."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


# ------------------------------------------------------------------ sources


def test_folder_sources(tiny_imdb: Path) -> None:
    assert data.fetch(str(tiny_imdb)) == tiny_imdb
    assert data.fetch(str(tiny_imdb.parent)) == tiny_imdb  # a folder holding aclImdb


def test_archive_source_extracts_once(tiny_archive: Path, tmp_path: Path) -> None:
    root = data.fetch(str(tiny_archive), sha256=sha256(tiny_archive))
    assert (root / "train" / "pos").is_dir()
    assert root.name == "aclImdb"
    assert tmp_path / "cache" in root.parents
    marker = root / "marker"
    marker.write_text("x")
    assert data.fetch(str(tiny_archive)) == root and marker.exists()  # reused, not re-extracted


def test_http_download_verifies_sha256(tiny_archive: Path, http_root: tuple[str, Path]) -> None:
    base, folder = http_root
    (folder / tiny_archive.name).write_bytes(tiny_archive.read_bytes())
    url = f"{base}/{tiny_archive.name}"
    with pytest.raises(DataError, match="sha256 mismatch"):
        data.fetch(url, sha256="0" * 64)
    downloads = Path(data.cache_dir()) / "downloads"
    assert not any(downloads.iterdir())  # nothing half-written left behind
    root = data.fetch(url, sha256=sha256(tiny_archive))
    assert len(data.load(root, "test")) == 40
    assert (downloads / tiny_archive.name).read_bytes() == tiny_archive.read_bytes()


def test_download_md5_and_file_url(tiny_archive: Path, tmp_path: Path) -> None:
    url = tiny_archive.as_uri()
    good = hashlib.md5(tiny_archive.read_bytes()).hexdigest()
    dest = tmp_path / "dl"
    with pytest.raises(DataError, match="md5 mismatch"):
        sources.download(url, dest, md5="f" * 32)
    assert sources.download(url, dest, md5=good).read_bytes() == tiny_archive.read_bytes()


def test_official_url_is_checked_with_official_md5(monkeypatch: pytest.MonkeyPatch,
                                                   tiny_archive: Path) -> None:
    seen = {}

    def fake_download(url: str, dest: Path, *, sha256: str | None = None,
                      md5: str | None = None) -> Path:
        seen.update(url=url, sha256=sha256, md5=md5)
        return tiny_archive

    monkeypatch.setattr(sources, "download", fake_download)
    data.fetch()
    assert seen == {"url": data.OFFICIAL_URL, "sha256": None, "md5": data.OFFICIAL_MD5}
    assert data.OFFICIAL_URL == "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"


def test_http_404_is_one_line_error(http_root: tuple[str, Path]) -> None:
    with pytest.raises(DataError, match=r"cannot download .*404"):
        data.fetch(f"{http_root[0]}/missing.tar.gz")


@pytest.mark.parametrize("content", [b"", b"not a tarball at all", b"\x1f\x8b\x08garbage"])
def test_corrupt_archives(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(content)
    with pytest.raises(DataError, match="corrupt or truncated"):
        data.fetch(str(bad))
    assert not any((tmp_path / "cache" / "extracted").glob("*"))


def test_truncated_archive(tiny_archive: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(tiny_archive.read_bytes()[: tiny_archive.stat().st_size // 2])
    with pytest.raises(DataError, match="corrupt or truncated"):
        data.fetch(str(cut))


def _tar_with(tmp_path: Path, member: tarfile.TarInfo, payload: bytes = b"x") -> Path:
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(member, io.BytesIO(payload) if member.isfile() else None)
    return path


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink-out", "device"])
def test_unsafe_archives_are_refused(tmp_path: Path, kind: str) -> None:
    if kind == "dotdot":
        m = tarfile.TarInfo("aclImdb/../../escaped.txt")
        m.size = 1
    elif kind == "absolute":
        m = tarfile.TarInfo(str(tmp_path / "abs.txt"))
        m.size = 1
    elif kind == "symlink-out":
        m = tarfile.TarInfo("aclImdb/link")
        m.type, m.linkname = tarfile.SYMTYPE, "/etc/passwd"
    else:
        m = tarfile.TarInfo("aclImdb/dev")
        m.type, m.devmajor, m.devminor = tarfile.CHRTYPE, 1, 3
    # the stdlib "data" filter refuses these, except absolute names, which it makes relative
    # (so they land inside the extraction folder, and this archive then holds no dataset)
    message = "holds no dataset" if kind == "absolute" else "unsafe archive"
    with pytest.raises(DataError, match=message):
        data.fetch(str(_tar_with(tmp_path, m)))
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "abs.txt").exists()
    if kind == "absolute":
        assert list((tmp_path / "cache" / "extracted").rglob("abs.txt"))


def test_missing_source_and_folder_without_dataset(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="source not found"):
        data.fetch(str(tmp_path / "nope"))
    with pytest.raises(DataError, match="holds no dataset"):
        data.fetch(str(tmp_path))


def test_class_folders(tmp_path: Path) -> None:
    base = make_imdb(tmp_path, n_train=4, n_test=2)
    assert data.class_names(base / "train") == ["neg", "pos"]  # unsup is not a class
    for f in (base / "train" / "pos").iterdir():
        f.unlink()
    with pytest.raises(DataError, match=r"holds no .txt files"):
        data.split_paths(base, "train")
    (base / "train" / "pos").rmdir()
    with pytest.raises(DataError, match="at least two class folders"):
        data.split_paths(base, "train")


def test_undecodable_bytes_are_replaced_and_counted(tmp_path: Path) -> None:
    base = make_imdb(tmp_path, n_train=4, n_test=2)
    (base / "test" / "pos" / "0_9.txt").write_bytes(b"caf\xe9 was gr\xffeat")
    ds = data.load(base, "test")
    assert ds.replaced == 0  # a folder's files are read as the texts are used
    texts = dict(zip(ds.ids, ds.texts, strict=True))
    assert ds.replaced == 1
    assert texts["test/pos/0_9.txt"] == "caf\ufffd was gr\ufffdeat"


def test_text_files_read_on_access_as_load_reads(tmp_path: Path) -> None:
    base = make_imdb(tmp_path, n_train=4, n_test=3)
    paths, _labels, _names = data.split_paths(base, "test")
    (base / paths[1]).write_bytes(b"bad \xff")
    files = data.TextFiles(base, paths)
    loaded = list(data.load(base, "test").texts)
    assert len(files) == len(loaded) == 6
    assert list(files) == loaded and files[-1] == loaded[-1] and files[1:3] == loaded[1:3]


# ------------------------------------------------------------------ the split


def _pin_folder(tmp_path: Path) -> Path:
    root = tmp_path / "pins"
    for cls, names in PINS["split_files"].items():
        for name in names:
            p = root / "train" / cls / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(f"{cls} {name}")
    return root


@pytest.mark.parametrize(("seed", "fraction"), [(100, 0.25), (7, 0.4)])
def test_split_matches_keras_file_for_file(tmp_path: Path, seed: int, fraction: float) -> None:
    root = _pin_folder(tmp_path)
    train, _, _ = data.split_paths(root, "train", fraction, seed)
    val, labels, _ = data.split_paths(root, "validation", fraction, seed)
    strip = len("train/")
    assert [p[strip:] for p in train] == PINS[f"split_seed{seed}_training"]
    assert [p[strip:] for p in val] == PINS[f"split_seed{seed}_validation"]
    assert labels == [0 if p.startswith("train/neg/") else 1 for p in val]


def test_split_is_a_partition(tiny_imdb: Path) -> None:
    train, _, _ = data.split_paths(tiny_imdb, "train")
    val, _, _ = data.split_paths(tiny_imdb, "validation")
    assert len(val) == 30 and len(train) == 90
    assert not set(train) & set(val)


def test_paths_digest_definition() -> None:
    paths = ["train/pos/2_9.txt", "train/neg/1_1.txt"]
    expected = hashlib.sha256(b"train/neg/1_1.txt\ntrain/pos/2_9.txt\n").hexdigest()
    assert data.paths_digest(paths) == expected


def test_inspect_counts(tiny_imdb: Path) -> None:
    report = data.inspect(tiny_imdb)
    counts = report["counts"]
    assert counts["train"]["total"] + counts["validation"]["total"] == 120
    assert counts["test"] == {"neg": 20, "pos": 20, "total": 40}
    assert counts["unsup"] == {"total": 5}
    val, _, _ = data.split_paths(tiny_imdb, "validation")
    assert report["validation_digest"] == data.paths_digest(val)


def test_full_imdb_validation_digest_equals_keras(full_imdb: Path) -> None:
    report = data.inspect(full_imdb)
    assert report["counts"]["train"]["total"] == 18_750
    assert report["counts"]["validation"]["total"] == 6_250
    assert report["validation_digest"] == KERAS_VALIDATION_DIGEST


def test_make_archive_roundtrip(tmp_path: Path) -> None:
    base = make_imdb(tmp_path / "src", n_train=3, n_test=1)
    archive = make_archive(base, tmp_path / "a.tar.gz")
    root = data.fetch(str(archive))
    assert sorted(p.name for p in (root / "test" / "neg").iterdir()) == \
        sorted(p.name for p in (base / "test" / "neg").iterdir())


def test_training_data_read_file_by_file_equals_read_at_once(tiny_imdb: Path) -> None:
    # A folder's reviews are read as they are counted and encoded (never all in memory); runs
    # whose word vectors need the texts read them all first. Both must give the same rows.
    import torch

    from lstm_sentiment import config as cfg
    from lstm_sentiment.distributed import Context
    from lstm_sentiment.pipeline import read_data

    config = cfg.preset("seed")
    config.data.source = str(tiny_imdb)
    config.text.max_tokens, config.text.sequence_length = 200, 40
    lines: list[str] = []
    lazy = read_data(config, Context(), lines.append, keep_texts=False, with_test=True)
    eager = read_data(config, Context(), lines.append, keep_texts=True, with_test=True)
    assert lazy.encoder.vocabulary == eager.encoder.vocabulary
    for a, b in ((lazy.train, eager.train), (lazy.validation, eager.validation)):
        assert torch.equal(a.ids, b.ids) and torch.equal(a.labels, b.labels)
    assert lazy.provenance == eager.provenance and lazy.class_names == eager.class_names
    assert lazy.texts == [] and len(eager.texts) == len(lazy.train.labels)
    assert lines[0] == lines[2] and lines[0].startswith("Data: ")
