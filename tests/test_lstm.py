"""ReferenceLSTM must compute exactly what torch.nn.LSTM computes (values and gradients).

Tolerances: 1e-5 in float32, 1e-10 in float64. Outputs, states and input gradients are O(1)
and are compared absolutely. Parameter gradients are sums over all B*T steps (entries reach
~50 for T=500), so for them the bound is relative to the tensor's largest entry; see
``assert_close_scaled``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstm_sentiment.lstm import LSTMTrace, ReferenceLSTM, from_keras, to_keras

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
GATES = "ifgo"  # PyTorch's row-block order in weight_ih_l0 / weight_hh_l0

Array = NDArray[np.float64]


# --------------------------------------------------------------------------- helpers


def assert_close_scaled(actual: Tensor, expected: Tensor, tol: float, what: str = "") -> None:
    """max|actual - expected| <= tol * max(1, max|expected|): absolute for O(1) tensors."""
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (what, actual.dtype, expected.dtype)
    err = (actual - expected).abs().max().item() if actual.numel() else 0.0
    scale = max(1.0, expected.abs().max().item() if expected.numel() else 0.0)
    assert err <= tol * scale, f"{what}: max abs error {err:.3e} > {tol:.0e} * {scale:.3g}"


def make_pair(
    input_size: int, hidden_size: int, bias: bool, dtype: torch.dtype, seed: int
) -> tuple[ReferenceLSTM, nn.LSTM]:
    """A random ReferenceLSTM and an nn.LSTM holding the same weights (via load_state_dict)."""
    torch.manual_seed(seed)
    ref = ReferenceLSTM(input_size, hidden_size, bias=bias).to(dtype)
    fused = nn.LSTM(input_size, hidden_size, bias=bias, batch_first=True).to(dtype)
    fused.load_state_dict(ref.state_dict())  # strict: names and shapes must agree
    return ref, fused


def random_state(batch: int, hidden: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    h0 = torch.randn(1, batch, hidden, dtype=dtype).mul_(0.5).requires_grad_()
    c0 = torch.randn(1, batch, hidden, dtype=dtype).requires_grad_()
    return h0, c0


def weighted_loss(out: Tensor, h_n: Tensor, c_n: Tensor, seed: int) -> Tensor:
    """A random (but reproducible) weighted sum of everything the LSTM returns."""
    g = torch.Generator().manual_seed(seed)
    total = out.new_zeros(())
    for t in (out, h_n, c_n):
        total = total + (t * torch.randn(t.shape, generator=g, dtype=t.dtype)).sum()
    return total


def sigmoid(z: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-z))


def tutorial_params(
    module: nn.Module,
) -> tuple[dict[str, Array], dict[str, Array], dict[str, Array]]:
    """Split PyTorch weights into the tutorial's U^k [I, H], W^k [H, H] and b^k [H]."""
    sd = {k: v.detach().double().numpy() for k, v in module.state_dict().items()}
    H = sd["weight_hh_l0"].shape[1]
    U, W, b = {}, {}, {}
    for n, k in enumerate(GATES):
        rows = slice(n * H, (n + 1) * H)
        U[k] = sd["weight_ih_l0"][rows].T
        W[k] = sd["weight_hh_l0"][rows].T
        has_bias = "bias_ih_l0" in sd
        b[k] = sd["bias_ih_l0"][rows] + sd["bias_hh_l0"][rows] if has_bias else np.zeros(H)
    return U, W, b


def numpy_lstm(
    x: Array,
    U: dict[str, Array],
    W: dict[str, Array],
    b: dict[str, Array],
    h0: Array | None = None,
    c0: Array | None = None,
) -> dict[str, Array]:
    """The tutorial's equations in NumPy, row-vector convention. x [B, T, I] -> all [B, T, H]."""
    B, T, _ = x.shape
    H = W["f"].shape[0]
    h = np.zeros((B, H)) if h0 is None else h0
    c = np.zeros((B, H)) if c0 is None else c0
    rec: dict[str, list[Array]] = {k: [] for k in "ifgoch"}
    for t in range(T):
        x_t = x[:, t]
        f = sigmoid(x_t @ U["f"] + h @ W["f"] + b["f"])  # forget gate
        g = np.tanh(x_t @ U["g"] + h @ W["g"] + b["g"])  # candidate C~_t
        i = sigmoid(x_t @ U["i"] + h @ W["i"] + b["i"])  # add gate
        o = sigmoid(x_t @ U["o"] + h @ W["o"] + b["o"])  # output gate
        c = f * c + i * g
        h = o * np.tanh(c)
        for k, v in zip("ifgoch", (i, f, g, o, c, h), strict=True):
            rec[k].append(v)
    return {k: np.stack(v, axis=1) for k, v in rec.items()}


def keras_numpy_lstm(x: Array, kernel: Array, recurrent: Array, bias: Array) -> Array:
    """Keras-layout forward (gate columns i, f, c, o); returns the outputs [B, T, H]."""
    B, T, _ = x.shape
    H = recurrent.shape[0]
    h, c = np.zeros((B, H)), np.zeros((B, H))
    outs = []
    for t in range(T):
        z_i, z_f, z_c, z_o = np.split(x[:, t] @ kernel + h @ recurrent + bias, 4, axis=1)
        c = sigmoid(z_f) * c + sigmoid(z_i) * np.tanh(z_c)
        h = sigmoid(z_o) * np.tanh(c)
        outs.append(h)
    return np.stack(outs, axis=1)


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("bias", [True, False])
def test_parameters_match_nn_lstm(bias: bool) -> None:
    ref = ReferenceLSTM(5, 7, bias=bias)
    fused = nn.LSTM(5, 7, bias=bias, batch_first=True)
    ref_shapes = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    fused_shapes = {k: tuple(v.shape) for k, v in fused.state_dict().items()}
    assert ref_shapes == fused_shapes
    assert ("bias_ih_l0" in ref_shapes) == bias
    ref.load_state_dict(fused.state_dict())  # both directions, strict
    fused.load_state_dict(ref.state_dict())
    for k, v in ref.state_dict().items():
        assert torch.equal(v, fused.state_dict()[k])


def test_init_is_uniform_like_nn_lstm() -> None:
    torch.manual_seed(0)
    H = 64
    bound = 1 / math.sqrt(H)
    for name, p in ReferenceLSTM(16, H).named_parameters():
        assert p.abs().max().item() <= bound, name
        # Uniform(-a, a) has std a / sqrt(3); thousands of samples -> within 10 %.
        assert abs(p.std().item() - bound / math.sqrt(3)) < 0.1 * bound / math.sqrt(3), name
        assert abs(p.mean().item()) < 0.1 * bound, name


# --------------------------------------------------------------------------- equality


SHAPES = [  # (batch, steps, input, hidden)
    (1, 1, 1, 1),
    (1, 1, 4, 3),
    (3, 1, 5, 2),
    (1, 17, 3, 8),
    (4, 9, 16, 32),
    (6, 40, 7, 5),
    (2, 500, 4, 8),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("with_state", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}-T{}-D{}-H{}".format(*s))
def test_matches_nn_lstm_values_and_gradients(
    shape: tuple[int, int, int, int], bias: bool, with_state: bool, dtype: torch.dtype
) -> None:
    B, T, D, H = shape
    tol = TOL[dtype]
    seed = hash((shape, bias, with_state)) % 2**31
    ref, fused = make_pair(D, H, bias, dtype, seed)
    x = torch.randn(B, T, D, dtype=dtype, requires_grad=True)
    state = random_state(B, H, dtype) if with_state else None
    leaves = [x, *(state or ())]

    results = {}
    for name, model in (("ref", ref), ("fused", fused)):
        for leaf in leaves:
            leaf.grad = None
        out, (h_n, c_n) = model(x, state) if state else model(x)
        weighted_loss(out, h_n, c_n, seed).backward()
        grads = {f"d{n}": p.grad for n, p in model.named_parameters()}
        grads |= {f"d_leaf{k}": leaf.grad.clone() for k, leaf in enumerate(leaves)}
        results[name] = {"output": out, "h_n": h_n, "c_n": c_n, **grads}

    assert results["ref"].keys() == results["fused"].keys()
    assert results["ref"]["output"].shape == (B, T, H)
    assert results["ref"]["h_n"].shape == results["ref"]["c_n"].shape == (1, B, H)
    for key, expected in results["fused"].items():
        assert_close_scaled(results["ref"][key].detach(), expected.detach(), tol, key)
    # Every step of the output, not only the last one, and the last output is h_n.
    assert torch.equal(results["ref"]["output"][:, -1], results["ref"]["h_n"][0])


def test_loads_weights_from_nn_lstm() -> None:
    torch.manual_seed(3)
    fused = nn.LSTM(6, 4, batch_first=True).double()
    ref = ReferenceLSTM(6, 4).double()
    ref.load_state_dict(fused.state_dict())
    x = torch.randn(3, 12, 6, dtype=torch.float64)
    out_r, (h_r, c_r) = ref(x)
    out_f, (h_f, c_f) = fused(x)
    for a, b in ((out_r, out_f), (h_r, h_f), (c_r, c_f)):
        assert_close_scaled(a.detach(), b.detach(), 1e-10)


@pytest.mark.parametrize("bias", [True, False])
def test_matches_numpy_tutorial_equations(bias: bool) -> None:
    torch.manual_seed(11)
    ref = ReferenceLSTM(5, 6, bias=bias).double()
    if bias:  # make the two PyTorch biases clearly different so their sum matters
        with torch.no_grad():
            ref.bias_hh_l0.normal_()  # type: ignore[union-attr]
    x = torch.randn(4, 15, 5, dtype=torch.float64)
    h0, c0 = (s.detach() for s in random_state(4, 6, torch.float64))
    U, W, b = tutorial_params(ref)
    want = numpy_lstm(x.numpy(), U, W, b, h0[0].numpy(), c0[0].numpy())
    out, (h_n, c_n), tr = ref.trace(x, (h0, c0))
    assert_close_scaled(out.detach(), torch.from_numpy(want["h"]), 1e-10, "output")
    assert_close_scaled(h_n[0].detach(), torch.from_numpy(want["h"][:, -1]), 1e-10, "h_n")
    assert_close_scaled(c_n[0].detach(), torch.from_numpy(want["c"][:, -1]), 1e-10, "c_n")
    for k in "ifgoch":
        assert_close_scaled(getattr(tr, k).detach(), torch.from_numpy(want[k]), 1e-10, k)
    # float32 module against the float64 NumPy equations.
    out32, _ = ref.float()(x.float(), (h0.float(), c0.float()))
    assert_close_scaled(out32.detach(), torch.from_numpy(want["h"]).float(), 1e-5, "f32")


# --------------------------------------------------------------------------- trace


def test_trace_is_consistent_with_forward() -> None:
    torch.manual_seed(5)
    ref = ReferenceLSTM(3, 4)
    x = torch.randn(2, 9, 3)
    out, (h_n, c_n), tr = ref.trace(x)
    out2, (h2, c2) = ref(x)
    assert isinstance(tr, LSTMTrace)
    assert torch.equal(out, out2) and torch.equal(h_n, h2) and torch.equal(c_n, c2)
    assert tr.mask is None
    for k in "ifgoch":
        assert getattr(tr, k).shape == (2, 9, 4), k
    assert torch.equal(tr.h, out)
    assert torch.equal(tr.c[:, -1], c_n[0])
    for k in "ifo":  # sigmoid gates lie in (0, 1), the candidate in (-1, 1)
        assert ((getattr(tr, k) > 0) & (getattr(tr, k) < 1)).all(), k
    assert (tr.g.abs() < 1).all()
    # The recorded values satisfy the cell equations step by step.
    c_prev = torch.cat([torch.zeros(2, 1, 4), tr.c[:, :-1]], dim=1)
    torch.testing.assert_close(tr.c, tr.f * c_prev + tr.i * tr.g)
    torch.testing.assert_close(tr.h, tr.o * torch.tanh(tr.c))


def test_trace_with_lengths_zeroes_gates_of_padding() -> None:
    torch.manual_seed(6)
    ref = ReferenceLSTM(3, 4)
    x = torch.randn(3, 8, 3)
    lengths = torch.tensor([8, 5, 1])
    out, (h_n, c_n), tr = ref.trace(x, lengths=lengths)
    assert tr.mask is not None
    assert tr.mask.sum(1).tolist() == lengths.tolist()
    for k in "ifgo":
        gate = getattr(tr, k)
        assert (gate[~tr.mask] == 0).all(), k
        assert (gate[tr.mask] != 0).all(), k
    assert torch.equal(tr.h, out)
    assert torch.equal(tr.h[:, -1], h_n[0])
    assert torch.equal(tr.c[:, -1], c_n[0])
    # The unpadded prefix is identical to tracing each sequence alone.
    for b, n in enumerate(lengths.tolist()):
        _, _, alone = ref.trace(x[b : b + 1, :n])
        for k in "ifgoch":
            torch.testing.assert_close(getattr(tr, k)[b, :n], getattr(alone, k)[0], msg=k)


# --------------------------------------------------------------------------- masking


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("with_state", [False, True], ids=["zero-state", "given-state"])
def test_lengths_match_truncated_and_packed_nn_lstm(with_state: bool, dtype: torch.dtype) -> None:
    B, T, D, H = 6, 25, 4, 5
    tol = TOL[dtype]
    ref, fused = make_pair(D, H, True, dtype, seed=21 + with_state)
    x = torch.randn(B, T, D, dtype=dtype)
    lengths = torch.tensor([25, 1, 13, 24, 2, 7])
    state = random_state(B, H, dtype) if with_state else None
    out, (h_n, c_n) = ref(x, state, lengths=lengths)

    # 1. Each sequence on its own, truncated to its length.
    for b, n in enumerate(lengths.tolist()):
        st_b = None if state is None else (state[0][:, b : b + 1], state[1][:, b : b + 1])
        out_b, (h_b, c_b) = fused(x[b : b + 1, :n], st_b)
        assert_close_scaled(h_n[:, b].detach(), h_b[:, 0].detach(), tol, f"h_n[{b}]")
        assert_close_scaled(c_n[:, b].detach(), c_b[:, 0].detach(), tol, f"c_n[{b}]")
        assert_close_scaled(out[b, :n].detach(), out_b[0].detach(), tol, f"out[{b}]")
        # 2. Past the end, the output repeats the carried h (= h_n).
        assert torch.equal(out[b, n:], h_n[0, b].expand(T - n, H))

    # 3. nn.LSTM on a packed batch gives the same final states and valid outputs.
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out_p, (h_p, c_p) = fused(packed, state)
    padded, _ = pad_packed_sequence(out_p, batch_first=True, total_length=T)
    valid = (torch.arange(T)[None, :] < lengths[:, None])[..., None]
    assert_close_scaled(h_n.detach(), h_p.detach(), tol, "h_n packed")
    assert_close_scaled(c_n.detach(), c_p.detach(), tol, "c_n packed")
    assert_close_scaled((out * valid).detach(), padded.detach(), tol, "out packed")


def test_lengths_gradients_match_packed_nn_lstm() -> None:
    dtype = torch.float64
    B, T, D, H = 5, 30, 3, 4
    ref, fused = make_pair(D, H, True, dtype, seed=8)
    lengths = torch.tensor([30, 3, 17, 1, 29])
    valid = (torch.arange(T)[None, :] < lengths[:, None])[..., None]
    x = torch.randn(B, T, D, dtype=dtype, requires_grad=True)
    out, (h_n, c_n) = ref(x, lengths=lengths)
    weighted_loss(out * valid, h_n, c_n, seed=1).backward()
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    x_grad_ref, x.grad = x.grad, None
    out_p, (h_p, c_p) = fused(packed)
    padded, _ = pad_packed_sequence(out_p, batch_first=True, total_length=T)
    weighted_loss(padded, h_p, c_p, seed=1).backward()
    assert x_grad_ref is not None and x.grad is not None
    assert_close_scaled(x_grad_ref, x.grad, 1e-10, "dx")
    assert (x_grad_ref[~valid[..., 0]] == 0).all()  # padding never influences anything
    for (name, p), q in zip(ref.named_parameters(), fused.parameters(), strict=True):
        assert p.grad is not None and q.grad is not None
        assert_close_scaled(p.grad, q.grad, 1e-10, name)


def test_mask_with_holes_skips_steps() -> None:
    """A mask need not be a prefix: masked steps are simply skipped."""
    dtype = torch.float64
    B, T, D, H = 4, 12, 3, 5
    ref, fused = make_pair(D, H, True, dtype, seed=9)
    x = torch.randn(B, T, D, dtype=dtype)
    h0, c0 = (s.detach() for s in random_state(B, H, dtype))
    mask = torch.rand(B, T) < 0.6
    mask[0] = True
    mask[1] = False  # no real step at all: the state must come out unchanged
    mask[2, 0] = False
    out, (h_n, c_n) = ref(x, (h0, c0), mask=mask)
    for b in range(B):
        st_b = (h0[:, b : b + 1], c0[:, b : b + 1])
        if mask[b].any():
            _, (h_b, c_b) = fused(x[b : b + 1, mask[b]], st_b)
        else:
            h_b, c_b = st_b
        assert_close_scaled(h_n[:, b], h_b[:, 0].detach(), 1e-10, f"h_n[{b}]")
        assert_close_scaled(c_n[:, b], c_b[:, 0].detach(), 1e-10, f"c_n[{b}]")
        prev = h0[0, b]
        for t in range(T):
            if not mask[b, t]:
                assert torch.equal(out[b, t], prev), (b, t)
            prev = out[b, t]
    assert torch.equal(h_n[0, 1], h0[0, 1]) and torch.equal(c_n[0, 1], c0[0, 1])


def test_mask_equals_lengths_and_full_mask_equals_none() -> None:
    torch.manual_seed(10)
    ref = ReferenceLSTM(3, 4)
    x = torch.randn(3, 7, 3)
    lengths = torch.tensor([7, 0, 4])
    mask = torch.arange(7)[None, :] < lengths[:, None]
    a = ref(x, lengths=lengths)
    b = ref(x, mask=mask)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1][0], b[1][0])
    assert torch.equal(a[1][1], b[1][1])
    assert (a[0][1] == 0).all() and (a[1][0][0, 1] == 0).all()  # length 0: stays at zeros
    full = ref(x, mask=torch.ones(3, 7, dtype=torch.bool))
    plain = ref(x)
    assert torch.equal(full[0], plain[0]) and torch.equal(full[1][1], plain[1][1])


@settings(max_examples=25, deadline=None, database=None)
@given(
    B=st.integers(1, 4),
    T=st.integers(1, 12),
    D=st.integers(1, 5),
    H=st.integers(1, 6),
    data=st.data(),
)
def test_property_lengths_vs_packed(B: int, T: int, D: int, H: int, data: st.DataObject) -> None:
    lengths = torch.tensor(data.draw(st.lists(st.integers(1, T), min_size=B, max_size=B)))
    seed = data.draw(st.integers(0, 2**16))
    ref, fused = make_pair(D, H, data.draw(st.booleans()), torch.float64, seed)
    x = torch.randn(B, T, D, dtype=torch.float64)
    _, (h_n, c_n) = ref(x, lengths=lengths)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    _, (h_p, c_p) = fused(packed)
    assert_close_scaled(h_n.detach(), h_p.detach(), 1e-10, "h_n")
    assert_close_scaled(c_n.detach(), c_p.detach(), 1e-10, "c_n")


def test_gradcheck_with_mask() -> None:
    torch.manual_seed(12)
    ref = ReferenceLSTM(2, 3).double()
    x = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    h0, c0 = random_state(2, 3, torch.float64)
    lengths = torch.tensor([4, 2])

    def f(x: Tensor, h0: Tensor, c0: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out, (h, c) = ref(x, (h0, c0), lengths=lengths)
        return out, h, c

    assert torch.autograd.gradcheck(f, (x, h0, c0))


# --------------------------------------------------------------------------- errors


def test_rejects_bad_arguments() -> None:
    ref = ReferenceLSTM(3, 4)
    x = torch.randn(2, 5, 3)
    with pytest.raises(ValueError):
        ref(torch.randn(2, 5, 4))
    with pytest.raises(ValueError):
        ref(torch.randn(5, 3))
    with pytest.raises(ValueError):
        ref(torch.randn(2, 0, 3))
    with pytest.raises(ValueError):
        ref(x, (torch.zeros(2, 4), torch.zeros(2, 4)))
    with pytest.raises(ValueError):
        ref(x, lengths=torch.tensor([5, 6]))
    with pytest.raises(ValueError):
        ref(x, lengths=torch.tensor([5]))
    with pytest.raises(ValueError):
        ref(x, mask=torch.ones(2, 5))  # not bool
    with pytest.raises(ValueError):
        ref(x, lengths=torch.tensor([5, 5]), mask=torch.ones(2, 5, dtype=torch.bool))


# --------------------------------------------------------------------------- Keras layout


def random_keras(D: int, H: int, rng: np.random.Generator) -> tuple[Array, Array, Array]:
    kernel = rng.normal(0, 0.4, (D, 4 * H))
    recurrent = rng.normal(0, 0.4, (H, 4 * H))
    bias = rng.normal(0, 0.4, (4 * H,))
    return kernel, recurrent, bias


def test_from_keras_matches_keras_layout_numpy_forward() -> None:
    rng = np.random.default_rng(0)
    D, H = 4, 3
    kernel, recurrent, bias = random_keras(D, H, rng)
    sd = from_keras(kernel, recurrent, bias)
    assert sd["weight_ih_l0"].shape == (4 * H, D) and sd["weight_hh_l0"].shape == (4 * H, H)
    assert (sd["bias_hh_l0"] == 0).all()
    ref = ReferenceLSTM(D, H).double()
    ref.load_state_dict(sd)
    fused = nn.LSTM(D, H, batch_first=True).double()
    fused.load_state_dict(sd)
    x = rng.normal(size=(3, 10, D))
    want = torch.from_numpy(keras_numpy_lstm(x, kernel, recurrent, bias))
    out, _ = ref(torch.from_numpy(x))
    out_f, _ = fused(torch.from_numpy(x))
    assert_close_scaled(out.detach(), want, 1e-10, "ref vs keras numpy")
    assert_close_scaled(out_f.detach(), want, 1e-10, "nn.LSTM vs keras numpy")


def test_keras_round_trips() -> None:
    rng = np.random.default_rng(1)
    kernel, recurrent, bias = random_keras(5, 2, rng)
    k2, r2, b2 = to_keras(from_keras(kernel, recurrent, bias))
    assert b2 is not None
    for a, b in ((kernel, k2), (recurrent, r2), (bias, b2)):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    # Tensors are accepted too, and float32 stays float32.
    sd32 = from_keras(*(torch.from_numpy(a).float() for a in (kernel, recurrent, bias)))
    assert all(v.dtype == torch.float32 for v in sd32.values())

    # torch -> keras -> torch: the bias split changes, the function does not.
    torch.manual_seed(2)
    ref = ReferenceLSTM(5, 2).double()
    k3, r3, b3 = to_keras(ref.state_dict())
    assert b3 is not None
    np.testing.assert_allclose(k3, ref.weight_ih_l0.detach().numpy().T, rtol=0, atol=0)
    back = ReferenceLSTM(5, 2).double()
    back.load_state_dict(from_keras(k3, r3, b3))
    x = torch.randn(2, 6, 5, dtype=torch.float64)
    out_a, (h_a, c_a) = ref(x)
    out_b, (h_b, c_b) = back(x)
    assert_close_scaled(out_b.detach(), out_a.detach(), 1e-12, "out")
    assert_close_scaled(h_b.detach(), h_a.detach(), 1e-12, "h_n")
    assert_close_scaled(c_b.detach(), c_a.detach(), 1e-12, "c_n")


def test_keras_without_bias() -> None:
    rng = np.random.default_rng(3)
    kernel, recurrent, _ = random_keras(3, 4, rng)
    sd = from_keras(kernel, recurrent)
    assert set(sd) == {"weight_ih_l0", "weight_hh_l0"}
    ref = ReferenceLSTM(3, 4, bias=False).double()
    ref.load_state_dict(sd)
    k2, r2, b2 = to_keras(ref.state_dict())
    assert b2 is None
    np.testing.assert_array_equal(k2, kernel)
    np.testing.assert_array_equal(r2, recurrent)
    x = rng.normal(size=(2, 5, 3))
    want = keras_numpy_lstm(x, kernel, recurrent, np.zeros(16))
    out, _ = ref(torch.from_numpy(x))
    assert_close_scaled(out.detach(), torch.from_numpy(want), 1e-10)
    with pytest.raises(ValueError):
        from_keras(kernel, recurrent, np.zeros(15))
