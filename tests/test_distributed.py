"""distributed.py and DDP training: torchrun with 2 CPU processes equals one process.

The multi-process tests start ``torchrun`` (``python -m torch.distributed.run --standalone``,
which picks a free port itself) on tiny data. Each rank saves its final weights to
``$LSTM_SENTIMENT_DEBUG_RANK_DIR/rank<r>.safetensors``, so the test can check the replicas are
identical and match what rank 0 saved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import make_imdb
from safetensors.torch import load_file

from lstm_sentiment import config as cfg
from lstm_sentiment.distributed import (
    DEBUG_RANK_DIR_ENV,
    Context,
    PeerError,
    resolve_device,
    session,
    torchrun_env,
    weights_digest,
    without_option,
)
from lstm_sentiment.errors import UserError
from lstm_sentiment.model import build
from lstm_sentiment.pipeline import run
from lstm_sentiment.predict import SentimentModel
from lstm_sentiment.split import Split
from lstm_sentiment.trainer import batches

TINY = {"max_tokens": 50, "sequence_length": 24, "epochs": 2, "batch_size": 16,
        "learning_rate": 0.01}
TIMEOUT = 120


def tiny_config(source: Path, settings: dict[str, float] = TINY) -> cfg.RunConfig:
    config = cfg.preset("seed")
    config.data.source = str(source)
    config.text.max_tokens = int(settings["max_tokens"])
    config.text.sequence_length = int(settings["sequence_length"])
    config.train.epochs = int(settings["epochs"])
    config.train.batch_size = int(settings["batch_size"])
    config.train.learning_rate = float(settings["learning_rate"])
    config.train.threads = 1
    return config


# ------------------------------------------------------------------------------ one process


def test_torchrun_env_is_read_from_the_environment() -> None:
    assert torchrun_env({}) is None
    env = torchrun_env({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert env is not None and (env.rank, env.world_size, env.local_rank) == (1, 4, 1)
    with pytest.raises(UserError, match="whole numbers"):
        torchrun_env({"RANK": "x", "WORLD_SIZE": "2"})
    with pytest.raises(UserError, match="does not fit"):
        torchrun_env({"RANK": "2", "WORLD_SIZE": "2"})


def test_devices() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected
    with pytest.raises(UserError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_auto_takes_cuda_only_with_a_gpu_per_local_process(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto", 0, 1) == torch.device("cuda", 0)
    for rank in (0, 1):  # 2 processes, 1 GPU: both ranks agree on the CPU
        assert resolve_device("auto", rank, 2) == torch.device("cpu")
    with pytest.raises(UserError, match="GPU 1 requested but only 1 are visible"):
        resolve_device("cuda", 1, 2)
    env = torchrun_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1",
                        "LOCAL_WORLD_SIZE": "2"})
    assert env is not None and env.local_world_size == 2


def test_one_process_context_is_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    with session("cpu") as ctx:
        assert (ctx.rank, ctx.world_size, ctx.distributed, ctx.is_main) == (0, 1, False, True)
        assert ctx.all_sum([1, 2.5]) == [1.0, 2.5]
        assert ctx.broadcast_object({"a": 1}) == {"a": 1}
        assert ctx.on_main(lambda: 7) == 7
        assert ctx.first(lambda: 8, per_node=True) == 8
        rows = torch.arange(5)
        assert torch.equal(ctx.shard(rows), rows)


def test_shards_split_every_batch_between_ranks() -> None:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 9, (81, 6), generator=g)
    split = Split(ids, torch.zeros(81, dtype=torch.long))
    plan = batches(split, 16, epoch_seed=3, bucket=True)
    for world in (2, 3):
        for batch in plan:
            shards = [Context(rank=r, world_size=world).shard(batch) for r in range(world)]
            assert sorted(torch.cat(shards).tolist()) == sorted(batch.tolist())
            assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_without_option() -> None:
    argv = ["-q", "train", "--nproc", "2", "--out", "x", "--nproc=3", "--epochs", "1"]
    assert without_option(argv, "--nproc") == ["-q", "train", "--out", "x", "--epochs", "1"]


def test_peer_error_is_a_user_error() -> None:
    assert issubclass(PeerError, UserError)  # the CLI reports it as one line, exit 2


def test_training_on_the_cpu_device_is_recorded(tiny_imdb: Path, tmp_path: Path) -> None:
    model = run(tiny_config(tiny_imdb), tmp_path / "m", log=lambda _l: None, device="cpu")
    assert model.info["training_device"] == "cpu"
    assert model.info["training_processes"] == 1
    assert SentimentModel.load(tmp_path / "m").info["training_processes"] == 1


# ------------------------------------------------------------------------------ torchrun

WORKER = textwrap.dedent('''
    """A torchrun worker: pipeline.run on tiny data, then fit / checkpoint / resume."""
    import json
    import os
    import sys
    from pathlib import Path

    import torch

    from lstm_sentiment import config as cfg
    from lstm_sentiment.config import ModelConfig, TrainConfig
    from lstm_sentiment.distributed import DEBUG_RANK_DIR_ENV, session
    from lstm_sentiment.model import build
    from lstm_sentiment.pipeline import run
    from lstm_sentiment.split import Split
    from lstm_sentiment.trainer import fit

    source, out, ranks, raw = sys.argv[1:5]
    settings = json.loads(raw)
    config = cfg.preset("seed")
    config.data.source = source
    config.text.max_tokens = settings["max_tokens"]
    config.text.sequence_length = settings["sequence_length"]
    config.train.epochs = settings["epochs"]
    config.train.batch_size = settings["batch_size"]
    config.train.learning_rate = settings["learning_rate"]
    config.train.threads = 1

    def toy(n):  # the same rows on every rank; 33 rows in batches of 16 end with a batch of 1
        g = torch.Generator().manual_seed(0)
        labels = torch.randint(0, 2, (n,), generator=g)
        ids = torch.randint(2, 30, (n, 10), generator=g)
        ids[:, 0] = 30 + labels
        return Split(ids, labels)

    def toy_fit(epochs, **kw):
        net = build(ModelConfig(vocab_size=32, num_classes=2, embedding_dim=8,
                                hidden_size=8), seed=5)
        fit(net, toy(33), toy(9), TrainConfig(epochs=epochs, batch_size=16, seed=9,
                                              learning_rate=0.01),
            fingerprint={"run": "toy"}, log=print, **kw)

    with session("cpu") as ctx:  # one process group for every step below
        os.environ[DEBUG_RANK_DIR_ENV] = str(Path(ranks) / "pipeline")
        run(config, Path(out), log=lambda line: print(line, flush=True))
        os.environ[DEBUG_RANK_DIR_ENV] = str(Path(ranks) / "straight")
        toy_fit(2)
        os.environ[DEBUG_RANK_DIR_ENV] = str(Path(ranks) / "first")
        toy_fit(1, checkpoint_dir=Path(out) / "toy-checkpoint")
        os.environ[DEBUG_RANK_DIR_ENV] = str(Path(ranks) / "resumed")
        toy_fit(2, checkpoint_dir=Path(out) / "toy-checkpoint", resume=True)
''')


def _torchrun(args: list[str], cwd: Path, env_extra: dict[str, str] | None = None,
              ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc-per-node", "2", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)


def _weights(folder: Path) -> list[dict[str, torch.Tensor]]:
    return [load_file(folder / f"rank{r}.safetensors") for r in range(2)]


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_two_processes_train_like_one(tmp_path: Path) -> None:
    # 54 reviews per class: 81 training rows, so batches of 16 end with a batch of one row,
    # which leaves rank 1 without rows for that step
    source = make_imdb(tmp_path / "data", n_train=54, n_test=10)
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    out, ranks = tmp_path / "ddp", tmp_path / "ranks"
    proc = _torchrun([str(worker), str(source), str(out), str(ranks), json.dumps(TINY)],
                     tmp_path, {"LSTM_SENTIMENT_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr[-3000:]

    # logs come from rank 0 only
    assert proc.stdout.count("Epoch 1/2 - loss") == 2  # the pipeline run and the toy run
    assert proc.stdout.count("Saved model to") == 1
    assert "Training on 2 processes, device cpu" in proc.stdout

    # both ranks end with the same weights, and rank 0 saved them
    rank0, rank1 = _weights(ranks / "pipeline")
    assert _equal(rank0, rank1)
    saved = SentimentModel.load(out)
    assert _equal(rank0, saved.network.state_dict())
    assert saved.info["training_processes"] == 2
    assert not (out / "checkpoint").exists()

    # ... and what one process trains from the same data and settings, up to rounding
    single = run(tiny_config(source), tmp_path / "one", log=lambda _l: None, device="cpu")
    for name, value in single.network.state_dict().items():
        torch.testing.assert_close(rank0[name], value, atol=1e-5, rtol=1e-4)
    for split in ("validation", "test"):
        assert saved.info["metrics"][split]["accuracy"] == pytest.approx(
            single.info["metrics"][split]["accuracy"], abs=0.05)
    for ours, theirs in zip(saved.history, single.history, strict=True):
        assert ours["loss"] == pytest.approx(theirs["loss"], abs=1e-4)
        assert ours["val_acc"] == pytest.approx(theirs["val_acc"], abs=0.05)

    # resuming a distributed run from rank 0's checkpoint ends exactly where a straight run does
    straight, resumed = _weights(ranks / "straight"), _weights(ranks / "resumed")
    assert _equal(*straight) and _equal(*resumed)
    assert _equal(straight[0], resumed[0])
    assert not _equal(straight[0], _weights(ranks / "first")[0])


def test_torchrun_cli_and_the_nproc_launcher(tiny_imdb: Path, tmp_path: Path) -> None:
    out, ranks = tmp_path / "ddp", tmp_path / "ranks"
    args = ["-q", "train", "--source", str(tiny_imdb), "--epochs", "2", "--threads", "1"]
    env = {"LSTM_SENTIMENT_CACHE": str(tmp_path / "cache"), DEBUG_RANK_DIR_ENV: str(ranks)}
    proc = _torchrun(["-m", "lstm_sentiment", *args, "--out", str(out)], tmp_path, env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("Epoch 2/2") == 1
    rank0, rank1 = _weights(ranks)
    assert _equal(rank0, rank1)
    ddp = SentimentModel.load(out)
    assert weights_digest(ddp.network) == weights_digest(_with_weights(ddp.network, rank1))

    from lstm_sentiment.cli import main

    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    one = SentimentModel.load(tmp_path / "one")
    assert ddp.info["metrics"]["validation"]["accuracy"] == pytest.approx(
        one.info["metrics"]["validation"]["accuracy"], abs=0.05)

    # the --nproc launcher: a user error on rank 0 stops every rank with exit code 2
    launcher = ("import sys; from lstm_sentiment.distributed import launch; "
                "sys.exit(launch(2, sys.argv[1:]))")
    again = subprocess.run([sys.executable, "-c", launcher, *args, "--out", str(out)],
                           capture_output=True, text=True, timeout=TIMEOUT,
                           env={**os.environ, **env})
    assert again.returncode == 2, again.stderr[-3000:]
    assert "already holds a trained model" in again.stderr
    assert "Traceback" not in again.stderr


def _with_weights(like: torch.nn.Module, weights: dict[str, torch.Tensor]) -> torch.nn.Module:
    """A fresh network shaped like ``like`` holding ``weights``."""
    net = build(like.config, seed=0)  # type: ignore[arg-type]
    net.load_state_dict(weights)
    return net
