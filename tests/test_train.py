"""train.py: Keras's RMSprop, determinism, checkpoints and resume."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from lstm_sentiment.config import ModelConfig, TrainConfig
from lstm_sentiment.errors import UserError
from lstm_sentiment.model import build
from lstm_sentiment.optim import KerasRMSprop
from lstm_sentiment.split import Split
from lstm_sentiment.trainer import batches, fit, format_epoch


def test_keras_rmsprop_puts_epsilon_inside_the_root() -> None:
    p = torch.nn.Parameter(torch.tensor([1.0]))
    opt = KerasRMSprop([p])
    p.grad = torch.tensor([1e-4])
    opt.step()
    # Keras 2.15 moved this weight by -3.1466e-4 (tools/keras_reference/rms.py); epsilon outside
    # the root, as torch.optim.RMSprop does, would give -3.15e-3
    expected = 1.0 - 1e-3 * 1e-4 / math.sqrt(0.1 * 1e-8 + 1e-7)
    assert p.item() == pytest.approx(expected, abs=1e-7)  # float32 near 1.0
    assert 1.0 - p.item() == pytest.approx(3.1466e-4, rel=1e-4)


def test_keras_rmsprop_three_steps() -> None:
    p = torch.nn.Parameter(torch.tensor([0.5, -2.0], dtype=torch.float64))
    opt = KerasRMSprop([p], lr=0.01, rho=0.9, epsilon=1e-7)
    ref, v = p.detach().clone(), torch.zeros(2, dtype=torch.float64)
    for g in ([0.3, -1.0], [0.1, 0.2], [-0.5, 0.0]):
        grad = torch.tensor(g, dtype=torch.float64)
        p.grad = grad.clone()
        opt.step()
        v = 0.9 * v + 0.1 * grad**2
        ref = ref - 0.01 * grad / torch.sqrt(v + 1e-7)
    torch.testing.assert_close(p.detach(), ref)


def _toy(n: int = 64, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    lengths = torch.randint(3, 12, (n,), generator=g)
    ids = torch.zeros(n, 12, dtype=torch.long)
    for i in range(n):
        ids[i, : lengths[i]] = torch.randint(2, 30, (int(lengths[i]),), generator=g)
        ids[i, 0] = 30 + int(labels[i])  # a learnable cue
    return Split(ids, labels)


def _fit(epochs: int, tmp: Path | None = None, resume: bool = False, **kw: object):
    net = build(ModelConfig(vocab_size=32, num_classes=2, embedding_dim=8, hidden_size=8), seed=5)
    cfg = TrainConfig(epochs=epochs, batch_size=16, seed=9, learning_rate=0.01)
    hist = fit(net, _toy(), _toy(32, seed=1), cfg, checkpoint_dir=tmp, resume=resume,
               fingerprint={"run": "toy"}, log=lambda _l: None, **kw)
    return net, hist


def test_training_learns_and_is_deterministic() -> None:
    a, hist = _fit(6)
    b, _ = _fit(6)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert hist.epochs[-1]["loss"] < hist.epochs[0]["loss"]
    assert {"loss", "acc", "val_loss", "val_acc", "seconds", "epoch"} <= set(hist.epochs[0])


def test_compact_ids_train_exactly_like_int64() -> None:
    wide, wide_hist = _fit(2)
    net = build(ModelConfig(vocab_size=32, num_classes=2, embedding_dim=8, hidden_size=8), seed=5)
    cfg = TrainConfig(epochs=2, batch_size=16, seed=9, learning_rate=0.01)
    narrow = [Split(s.ids.to(torch.int16), s.labels) for s in (_toy(), _toy(32, seed=1))]
    hist = fit(net, *narrow, cfg, log=lambda _l: None)
    for (name, pa), pb in zip(wide.state_dict().items(), net.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert [h["val_loss"] for h in hist.epochs] == [h["val_loss"] for h in wide_hist.epochs]


def test_resume_gives_bit_identical_weights(tmp_path: Path) -> None:
    full, full_hist = _fit(4)
    # stop after 2 epochs (as a crash or Ctrl-C would), then resume to 4
    _fit(2, tmp_path)
    resumed, hist = _fit(4, tmp_path, resume=True)
    for (name, pa), pb in zip(full.state_dict().items(), resumed.state_dict().values(),
                              strict=True):
        assert torch.equal(pa, pb), name
    assert [h["loss"] for h in hist.epochs] == [h["loss"] for h in full_hist.epochs]


def test_resume_refuses_other_runs_and_missing_checkpoints(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="nothing to resume"):
        _fit(2, tmp_path, resume=True)
    _fit(1, tmp_path)
    net = build(ModelConfig(vocab_size=32, num_classes=2, embedding_dim=8, hidden_size=8), seed=5)
    with pytest.raises(UserError, match="different run"):
        fit(net, _toy(), None, TrainConfig(epochs=2), checkpoint_dir=tmp_path, resume=True,
            fingerprint={"run": "other"}, log=lambda _l: None)


def test_checkpoint_has_no_pickle_and_keeps_one_epoch(tmp_path: Path) -> None:
    _fit(2, tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["model-epoch2.safetensors", "optimizer-epoch2.safetensors", "state.json"]


def test_batches_cover_every_row_once() -> None:
    split = _toy(101)
    for bucket in (False, True):
        plan = batches(split, 16, epoch_seed=3, bucket=bucket)
        assert sorted(torch.cat(plan).tolist()) == list(range(101))
        assert plan[0].tolist() == batches(split, 16, epoch_seed=3, bucket=bucket)[0].tolist()


def test_epoch_line_format() -> None:
    line = format_epoch(3, 10, {"loss": 0.37761, "acc": 0.8485, "val_loss": 0.3668,
                                "val_acc": 0.8672, "seconds": 4.12})
    assert line == ("Epoch 3/10 - loss: 0.3776 - acc: 0.8485 - val_loss: 0.3668 - "
                    "val_acc: 0.8672 - 4.1s")


def test_keras_rmsprop_state_dict_round_trip() -> None:
    a = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    b = torch.nn.Parameter(torch.tensor([3.0]))
    opt = KerasRMSprop([a, b], lr=0.01)
    a.grad, b.grad = torch.tensor([0.5, -0.5]), None  # b never stepped: no state
    opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"] == [{"lr": 0.01, "rho": 0.9, "epsilon": 1e-7, "params": [0, 1]}]
    assert list(sd["state"]) == [0]
    fresh = KerasRMSprop([a, b])
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["lr"] == 0.01
    torch.testing.assert_close(fresh.state[a]["square_avg"], opt.state[a]["square_avg"])
    with pytest.raises(ValueError, match="different set of parameters"):
        KerasRMSprop([a]).load_state_dict(sd)


def test_seed_training_loads_no_heavy_module() -> None:
    # torch.optim.Optimizer imports torch._dynamo (and sympy) on first use, ~70 MB resident;
    # SciPy and scikit-learn are for the accurate preset's fitting only (~10 and ~65 MB)
    import subprocess
    import sys
    code = ("import sys, torch\n"
            "import lstm_sentiment.pipeline, lstm_sentiment.cli\n"
            "from lstm_sentiment.config import ModelConfig, TrainConfig\n"
            "from lstm_sentiment.model import build\n"
            "from lstm_sentiment.split import Split\nfrom lstm_sentiment.trainer import fit\n"
            "ids = torch.randint(1, 50, (16, 12)); y = torch.randint(0, 2, (16,))\n"
            "fit(build(ModelConfig(vocab_size=50, num_classes=2), 0), Split(ids, y),\n"
            "    Split(ids, y),\n"
            "    TrainConfig(epochs=1, batch_size=8), log=lambda s: None)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sympy', 'scipy', 'sklearn'}),"
            " 'torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "[] False"
