"""A single-layer LSTM written straight from the gate equations.

This is the readable counterpart of ``torch.nn.LSTM``: same parameters, same results, but
every gate is spelled out so the code can be read side by side with the tutorial.

Notation (row vectors, as in the tutorial; ``x_t`` is [I], ``h_t`` and ``C_t`` are [H])::

    f_t  = sigmoid(x_t U^f + h_{t-1} W^f + b^f)     forget gate: how much old memory to keep
    C~_t = tanh   (x_t U^g + h_{t-1} W^g + b^g)     candidate memory ("g")
    i_t  = sigmoid(x_t U^i + h_{t-1} W^i + b^i)     input ("add") gate: how much candidate to write
    o_t  = sigmoid(x_t U^o + h_{t-1} W^o + b^o)     output gate: how much memory to expose
    C_t  = f_t * C_{t-1} + i_t * C~_t                new cell state (elementwise products)
    h_t  = o_t * tanh(C_t)                          new hidden state = output at step t

The tutorial has no biases; here they are optional (``bias=True`` by default, like PyTorch).

How the letters map onto stored tensors (PyTorch gate order is i, f, g, o)::

    weight_ih_l0  [4H, I] = [U^i | U^f | U^g | U^o]^T   (row blocks of H rows each)
    weight_hh_l0  [4H, H] = [W^i | W^f | W^g | W^o]^T
    bias_ih_l0    [4H]    } PyTorch keeps two bias vectors; only their sum b = b_ih + b_hh
    bias_hh_l0    [4H]    } matters, b = [b^i | b^f | b^g | b^o]

so ``U^f = weight_ih_l0[H:2H].T`` ([I, H]) and ``x_t U^f`` is ``x_t @ weight_ih_l0[H:2H].T``.

Keras stores the same numbers transposed, with a single bias and the same gate order
(i, f, c, o, where Keras' "c" is PyTorch's "g")::

    kernel            [I, 4H] = weight_ih_l0.T   = [U^i | U^f | U^c | U^o]
    recurrent_kernel  [H, 4H] = weight_hh_l0.T   = [W^i | W^f | W^c | W^o]
    bias              [4H]    = bias_ih_l0 + bias_hh_l0

See :func:`from_keras` and :func:`to_keras`. The Keras mapping is exact for
``activation="tanh"`` and ``recurrent_activation="sigmoid"`` (the Keras 2.3+/TF2 default;
Keras < 2.3 defaulted to ``hard_sigmoid``, which this module does not implement).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["LSTMTrace", "ReferenceLSTM", "from_keras", "to_keras"]

State = tuple[Tensor, Tensor]


class LSTMTrace(NamedTuple):
    """Per-step internals of one :meth:`ReferenceLSTM.trace` call, each [B, T, H].

    ``i, f, g, o`` are the gate activations, ``c`` the cell state and ``h`` the hidden
    state after each step. At masked steps the gates are 0 and ``c``/``h`` hold the
    carried values; ``mask`` ([B, T] bool, True = real step) is None when nothing was masked.
    """

    i: Tensor
    f: Tensor
    g: Tensor
    o: Tensor
    c: Tensor
    h: Tensor
    mask: Tensor | None


class ReferenceLSTM(nn.Module):
    """Single-layer, unidirectional, batch-first LSTM computed gate by gate.

    Drop-in numerical equivalent of ``nn.LSTM(input_size, hidden_size, bias=bias,
    batch_first=True)``: parameter names, shapes, gate order (i, f, g, o) and initialisation
    (uniform in +-1/sqrt(H)) are the same, so ``state_dict``s load into each other.

    Padding: pass ``lengths`` ([B] ints, real steps counted from the start) or ``mask``
    ([B, T] bool, True = real step). At a masked step the LSTM does not move: ``h`` and
    ``c`` keep their previous values and the output at that step is that carried ``h``.
    So ``h_n``/``c_n`` are the states after each sequence's last real step (what
    ``pack_padded_sequence`` gives), while outputs past the end repeat the last real ``h``
    (``nn.LSTM`` with packing pads them with zeros instead: multiply by the mask for that).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError("input_size and hidden_size must be positive")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        gates = 4 * hidden_size
        self.weight_ih_l0 = nn.Parameter(torch.empty(gates, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(gates, hidden_size))
        if bias:
            self.bias_ih_l0: nn.Parameter | None = nn.Parameter(torch.empty(gates))
            self.bias_hh_l0: nn.Parameter | None = nn.Parameter(torch.empty(gates))
        else:
            self.register_parameter("bias_ih_l0", None)
            self.register_parameter("bias_hh_l0", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(H), 1/sqrt(H)) for every parameter, as ``nn.LSTM`` does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}, batch_first=True"

    def forward(
        self,
        x: Tensor,
        state: State | None = None,
        lengths: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> tuple[Tensor, State]:
        """Run the LSTM over ``x`` [B, T, I].

        ``state`` is an optional ``(h0, c0)``, each [1, B, H] (zeros if None). Give at most
        one of ``lengths`` / ``mask`` (see the class docstring for masked steps).
        Returns ``(output [B, T, H], (h_n [1, B, H], c_n [1, B, H]))`` like ``nn.LSTM``.
        """
        output, final, _ = self._run(x, state, lengths, mask, record=False)
        return output, final

    def trace(
        self,
        x: Tensor,
        state: State | None = None,
        lengths: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> tuple[Tensor, State, LSTMTrace]:
        """Like :meth:`forward`, plus an :class:`LSTMTrace` of every gate, ``c`` and ``h``."""
        output, final, trace = self._run(x, state, lengths, mask, record=True)
        assert trace is not None
        return output, final, trace

    def _run(
        self,
        x: Tensor,
        state: State | None,
        lengths: Tensor | None,
        mask: Tensor | None,
        record: bool,
    ) -> tuple[Tensor, State, LSTMTrace | None]:
        if x.dim() != 3 or x.size(2) != self.input_size:
            raise ValueError(f"expected x of shape [B, T, {self.input_size}], got {list(x.shape)}")
        B, T, _ = x.shape
        if T == 0:
            raise ValueError("expected at least one time step (like nn.LSTM)")
        H = self.hidden_size
        h, c = self._initial_state(x, state)
        step_mask = _step_mask(lengths, mask, B, T, x.device)

        # Input part of all four gates for all steps in one matmul: x_t [U^i|U^f|U^g|U^o] + b.
        x_proj = x @ self.weight_ih_l0.T  # [B, T, 4H]
        if self.bias_ih_l0 is not None and self.bias_hh_l0 is not None:
            x_proj = x_proj + (self.bias_ih_l0 + self.bias_hh_l0)
        W = self.weight_hh_l0.T  # [H, 4H] = [W^i | W^f | W^g | W^o]
        # One view per step. unbind (rather than x_proj[:, t]) keeps backward cheap: indexing
        # would make every step's backward write a full-size [B, T, 4H] zero gradient.
        x_proj_steps = x_proj.unbind(dim=1)

        outputs: list[Tensor] = []
        gates: list[tuple[Tensor, ...]] = []
        for t in range(T):
            # Pre-activations of the four gates: x_t U^* + h_{t-1} W^* (+ bias).
            z_i, z_f, z_g, z_o = (x_proj_steps[t] + h @ W).split(H, dim=1)
            f = torch.sigmoid(z_f)  # forget gate
            g = torch.tanh(z_g)  # candidate cell state C~_t
            i = torch.sigmoid(z_i)  # input (add) gate
            o = torch.sigmoid(z_o)  # output gate
            c_new = f * c + i * g  # C_t = f_t * C_{t-1} + i_t * C~_t
            h_new = o * torch.tanh(c_new)  # h_t = o_t * tanh(C_t)

            if step_mask is None:
                c, h = c_new, h_new
            else:  # padded step: keep the previous c and h
                m = step_mask[:, t, None]
                c = torch.where(m, c_new, c)
                h = torch.where(m, h_new, h)
                if record:
                    i, f, g, o = (torch.where(m, a, 0.0) for a in (i, f, g, o))
            outputs.append(h)
            if record:
                gates.append((i, f, g, o, c, h))

        output = torch.stack(outputs, dim=1)
        final = (h.unsqueeze(0), c.unsqueeze(0))
        if not record:
            return output, final, None
        stacked = [torch.stack(seq, dim=1) for seq in zip(*gates, strict=True)]
        trace = LSTMTrace(*stacked, mask=step_mask)
        return output, final, trace

    def _initial_state(self, x: Tensor, state: State | None) -> State:
        B, H = x.size(0), self.hidden_size
        if state is None:
            zeros = x.new_zeros(B, H)
            return zeros, zeros
        h0, c0 = state
        for name, s in (("h0", h0), ("c0", c0)):
            if s.shape != (1, B, H):
                raise ValueError(f"expected {name} of shape [1, {B}, {H}], got {list(s.shape)}")
        return h0[0], c0[0]


def _step_mask(
    lengths: Tensor | None, mask: Tensor | None, B: int, T: int, device: torch.device
) -> Tensor | None:
    """[B, T] bool of real steps from ``lengths`` or ``mask`` (None if neither is given)."""
    if lengths is not None and mask is not None:
        raise ValueError("pass either lengths or mask, not both")
    if lengths is not None:
        lengths = torch.as_tensor(lengths, device=device)
        if lengths.shape != (B,) or lengths.is_floating_point():
            raise ValueError(f"expected integer lengths of shape [{B}], got {list(lengths.shape)}")
        if bool((lengths < 0).any()) or bool((lengths > T).any()):
            raise ValueError(f"lengths must lie in [0, {T}]")
        return torch.arange(T, device=device)[None, :] < lengths[:, None]
    if mask is not None:
        mask = torch.as_tensor(mask, device=device)
        if mask.shape != (B, T) or mask.dtype != torch.bool:
            raise ValueError(f"expected a bool mask of shape [{B}, {T}], got {list(mask.shape)}")
        return mask
    return None


def _as_tensor(a: np.ndarray | Tensor) -> Tensor:
    return a.detach().clone() if isinstance(a, Tensor) else torch.from_numpy(np.array(a))


def from_keras(
    kernel: np.ndarray | Tensor,
    recurrent_kernel: np.ndarray | Tensor,
    bias: np.ndarray | Tensor | None = None,
) -> dict[str, Tensor]:
    """Keras LSTM weights -> a ``state_dict`` for :class:`ReferenceLSTM` or ``nn.LSTM``.

    ``kernel`` [I, 4H], ``recurrent_kernel`` [H, 4H], ``bias`` [4H] (or None for a
    ``bias=False`` model), NumPy arrays or tensors. Returns new tensors (dtype kept):
    the weights transposed, ``bias_ih_l0 = bias`` and ``bias_hh_l0 = 0``.
    """
    k, rk = _as_tensor(kernel), _as_tensor(recurrent_kernel)
    if k.dim() != 2 or rk.dim() != 2 or rk.size(1) != 4 * rk.size(0) or k.size(1) != rk.size(1):
        raise ValueError(f"bad Keras shapes: kernel {list(k.shape)}, recurrent {list(rk.shape)}")
    sd = {
        "weight_ih_l0": k.T.contiguous(),
        "weight_hh_l0": rk.T.contiguous(),
    }
    if bias is not None:
        b = _as_tensor(bias)
        if b.shape != (k.size(1),):
            raise ValueError(f"expected bias of shape [{k.size(1)}], got {list(b.shape)}")
        sd["bias_ih_l0"] = b
        sd["bias_hh_l0"] = torch.zeros_like(b)
    return sd


def to_keras(
    state_dict: dict[str, Tensor],
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """PyTorch-named LSTM weights -> Keras ``(kernel, recurrent_kernel, bias)`` NumPy arrays.

    ``bias = bias_ih_l0 + bias_hh_l0`` (None if the model has no biases); the arrays are
    copies in the parameters' dtype, ready for ``keras_layer.set_weights([...])``.
    """
    kernel = state_dict["weight_ih_l0"].detach().cpu().numpy().T.copy()
    recurrent = state_dict["weight_hh_l0"].detach().cpu().numpy().T.copy()
    bias = None
    if "bias_ih_l0" in state_dict:
        bias = (state_dict["bias_ih_l0"] + state_dict["bias_hh_l0"]).detach().cpu().numpy()
    return kernel, recurrent, bias
