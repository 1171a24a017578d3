"""Record how Keras 2.15 trains the tutorial model: RMSprop, initializers, padding and the loss.

Prints a plain-text report to stdout, in four parts, each a short summary followed by the Keras
source it was read from and a numeric check against real Keras:

* RMSprop: the update rule (epsilon inside the square root, no bias correction), checked on dense
  gradients, on a tiny gradient that tells the two epsilon placements apart, and on sparse
  Embedding gradients with duplicate indices;
* initializers of the tutorial's Embedding, LSTM and Dense layers (statistics of a fresh model,
  orthogonality of the recurrent kernel, the forget-gate bias);
* padding: the LSTM, without mask_zero, reads the trailing padding steps too;
* binary cross-entropy on a sigmoid output: model.fit uses the logits, eager calls on a plain
  probability clip instead.

Run once, in a throwaway TensorFlow venv (never in CI):

    /tmp/tfvenv/bin/python tools/keras_reference/rms.py > OUT/rmsprop.txt

Writes no test fixture: tests/test_train.py quotes its tiny-gradient number, and the rest informed
our TF-free port. The initializer statistics are unseeded, so those lines change from run to run.
"""

import inspect

import numpy as np
import tensorflow as tf
from keras.src import activations, backend, losses
from keras.src.initializers import initializers
from keras.src.layers.rnn import lstm
from keras.src.optimizers import optimizer, rmsprop

RMSPROP_SUMMARY = (
    "# Keras 2.15.0 (tensorflow-cpu 2.15.1). tf.keras.optimizers.RMSprop is {cls} (the NEW "
    "optimizer, not legacy).",
    "# ======================= RMSprop SUMMARY =======================",
    "# defaults: learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, no "
    "weight decay, no clipping.",
    "# state: velocity v (zeros, same shape as var). No bias correction, no step counter used "
    "in the rule.",
    "# DENSE:   v <- rho*v + (1-rho)*g^2 ;  var <- var - lr * g * rsqrt(v + eps)       i.e.  "
    "lr*g / sqrt(v + eps)   (eps INSIDE sqrt)",
    "# SPARSE (tf.IndexedSlices, e.g. Embedding gradient):",
    "#   apply_gradients first calls _deduplicate_sparse_grad: duplicate indices are SUMMED "
    "(tf.unique + unsorted_segment_sum)",
    "#   v <- rho*v  (ALL rows decay, also rows not in the batch) ; "
    "v[idx] += (1-rho)*g_rows^2 ;",
    "#   var[idx] -= lr * g_rows * rsqrt(v[idx] + eps)     (rows not in batch: var unchanged)",
    "#   => mathematically IDENTICAL to the dense rule applied to the dense gradient (zero rows "
    "give zero increment but still decay v).",
    "# PyTorch equivalent: torch.optim.RMSprop(alpha=0.9, eps=...) is NOT identical (torch: "
    "sqrt(v)+eps, default alpha 0.99, eps 1e-8);",
    "#   exact port: v.mul_(0.9).addcmul_(g,g,value=0.1); p.addcdiv_(g, (v+1e-7).sqrt(), "
    "value=-lr)",
    "# jit_compile: only used when a GPU is present (optimizer.__init__), so on CPU the update "
    "runs un-jitted.",
    "",
)
INITIALIZERS_SUMMARY = (
    "# Embedding(15000,16): embeddings_initializer='uniform' -> RandomUniform(minval=-0.05, "
    "maxval=0.05); mask_zero=False (row 0 is a normal trainable row)",
    "# LSTM(32): kernel (16,128) glorot_uniform = U(-sqrt(6/(fan_in+fan_out)), +...) with "
    "fan_in=16, fan_out=128 computed on the WHOLE (16,128) matrix",
    "#           recurrent_kernel (32,128) orthogonal(gain=1): a ~ N(0,1) of shape (128,32); "
    "q,r = qr(a); q *= sign(diag(r)); transpose -> (32,128) (orthonormal rows)",
    "#           bias (128,) zeros except unit_forget_bias=True -> bias[32:64] = 1.0 ; gate "
    "order in the 128 columns: i, f, c(g), o",
    "#           activation tanh, recurrent_activation sigmoid (true sigmoid, not "
    "hard_sigmoid); h = o*tanh(c), c = f*c + i*tanh(x W_c + h U_c + b_c)",
    "#           single bias vector (no separate input/recurrent biases as in PyTorch/cuDNN: "
    "Keras cuDNN path passes zeros for the recurrent bias)",
    "# Dense(1): kernel (32,1) glorot_uniform limit sqrt(6/33); bias zeros",
    "",
)
BCE_SUMMARY = (
    "# backend.binary_crossentropy calls _get_logits(output, from_logits, 'Sigmoid', ...):",
    "#   if output has attribute _keras_logits (set by keras.activations.sigmoid / "
    "backend.sigmoid) OR (graph tensor whose op.type == 'Sigmoid'):",
    "#   use the pre-sigmoid logits and tf.nn.sigmoid_cross_entropy_with_logits (numerically "
    "stable, NO clipping).",
    "#   else: clip output to [1e-7, 1-1e-7] and bce = -(t*log(p+1e-7) + (1-t)*log(1-p+1e-7)).",
    "# losses.binary_crossentropy: mean over last axis (size 1), then Keras loss reduction "
    "SUM_OVER_BATCH_SIZE = mean over batch.",
    "# => in model.fit with Dense(1, activation='sigmoid') the loss is BCE-with-logits on the "
    "Dense pre-activation (== torch BCEWithLogitsLoss, mean).",
    "",
)


def show_source(*functions) -> None:
    for f in functions:
        print(f"\n# ---- {f.__module__}.{f.__qualname__} ----\n{inspect.getsource(f)}")


def rmsprop_section() -> None:
    print("\n".join(RMSPROP_SUMMARY).format(cls=tf.keras.optimizers.RMSprop))
    show_source(rmsprop.RMSprop.__init__, rmsprop.RMSprop.build, rmsprop.RMSprop.update_step,
                optimizer._BaseOptimizer._deduplicate_sparse_grad,
                optimizer._BaseOptimizer.apply_gradients, optimizer._BaseOptimizer.__init__)

    print("\n# ======================= numeric check (float32) =======================")
    # dense gradients, three steps, against NumPy in float64
    opt = tf.keras.optimizers.RMSprop()
    var = tf.Variable([1.0, -2.0, 0.5])
    v = np.zeros(3, np.float64)
    x = np.array([1.0, -2.0, 0.5])
    for step in range(3):
        g = np.array([0.1, -0.3, 2.0]) * (step + 1)
        opt.apply_gradients([(tf.constant(g, tf.float32), var)])
        v = 0.9 * v + 0.1 * g * g
        x = x - 1e-3 * g / np.sqrt(v + 1e-7)
        xt = x.copy()
        print(f"dense step {step + 1} grad={g.tolist()} keras_var={var.numpy().tolist()} "
              f"numpy(sqrt(v+eps))={xt.tolist()}")
    alt = np.array([1.0, -2.0, 0.5])
    v2 = np.zeros(3)
    for step in range(3):
        g = np.array([0.1, -0.3, 2.0]) * (step + 1)
        v2 = 0.9 * v2 + 0.1 * g * g
        alt = alt - 1e-3 * g / (np.sqrt(v2) + 1e-7)
    print(f"max |keras - numpy sqrt(v+eps)| = {np.abs(var.numpy() - x).max():.3g} ; "
          f"(alt sqrt(v)+eps rule differs from keras by {np.abs(var.numpy() - alt).max():.3g} "
          "— too tiny to discriminate at these magnitudes)")

    # a tiny gradient tells the two epsilon placements apart
    opt = tf.keras.optimizers.RMSprop()
    var = tf.Variable([0.0])
    g = 1e-4
    opt.apply_gradients([(tf.constant([g]), var)])
    inside = -1e-3 * g / np.sqrt(0.1 * g * g + 1e-7)
    outside = -1e-3 * g / (np.sqrt(0.1 * g * g) + 1e-7)
    print(f"tiny grad g=1e-4, one step: keras delta={var.numpy()[0]:.9g} ; "
          f"sqrt(v+eps) rule={inside:.9g} ; sqrt(v)+eps rule={outside:.9g}")

    # sparse gradients: a 5x2 embedding looked up with duplicate indices
    emb = tf.Variable(np.arange(10, dtype=np.float32).reshape(5, 2) / 10)
    opt = tf.keras.optimizers.RMSprop()
    E = emb.numpy().astype(np.float64)
    V = np.zeros_like(E)
    for step, ids in enumerate([[1, 1, 3], [3, 4], [0, 1, 1, 1]]):
        weights = np.arange(1, 2 * len(ids) + 1, dtype=np.float32).reshape(-1, 2)
        with tf.GradientTape() as tape:
            y = tf.gather(emb, ids)
            loss = tf.reduce_sum(y * tf.constant(weights))
        gr = tape.gradient(loss, emb)
        kind = type(gr).__name__
        opt.apply_gradients([(gr, emb)])
        G = np.zeros_like(E)
        for k, i in enumerate(ids):
            G[i] += np.arange(1, 2 * len(ids) + 1).reshape(-1, 2)[k]
        V = 0.9 * V + 0.1 * G * G
        E = E - 1e-3 * G / np.sqrt(V + 1e-7)
        print(f"sparse step {step + 1} ids={ids} grad type={kind} "
              f"keras={np.round(emb.numpy(), 7).tolist()} | "
              f"numpy dense-equivalent (dups summed)={np.round(E, 7).tolist()}")
    print(f"max |keras - numpy| sparse = {np.abs(emb.numpy() - E).max():.3g}")


def initializers_section() -> None:
    print("\n# ======================= INITIALIZERS =======================")
    print("\n".join(INITIALIZERS_SUMMARY))
    m = tf.keras.Sequential([
        tf.keras.layers.Embedding(15000, 16, input_length=228),
        tf.keras.layers.LSTM(32),
        tf.keras.layers.Dense(1, activation="sigmoid"),
    ])
    m.build((None, 228))
    for w in m.weights:
        a = w.numpy()
        print(f"{w.name:<45} {a.shape!s:<12} min={a.min():.5f} max={a.max():.5f} "
              f"mean={a.mean():.5f} std={a.std():.5f}")
    rk = m.layers[1].weights[1].numpy()
    gram = rk @ rk.T
    is_identity = np.allclose(gram, np.eye(32), atol=1e-5)
    max_err = np.abs(gram - np.eye(32)).max()
    print(f"recurrent_kernel @ recurrent_kernel.T == I(32): {is_identity} (max err {max_err:.2g})")
    b = m.layers[1].weights[2].numpy()
    print("LSTM bias blocks [i,f,c,o] unique values:",
          [np.unique(b[k * 32:(k + 1) * 32]).tolist() for k in range(4)])
    print("Embedding config:", m.layers[0].get_config()["embeddings_initializer"],
          "mask_zero=", m.layers[0].get_config()["mask_zero"])
    lstm_keys = ["activation", "recurrent_activation", "kernel_initializer",
                 "recurrent_initializer", "bias_initializer", "unit_forget_bias",
                 "implementation", "use_bias"]
    print("LSTM config:", {k: m.layers[1].get_config()[k] for k in lstm_keys})
    print("Dense config:",
          {k: m.layers[2].get_config()[k] for k in ["kernel_initializer", "bias_initializer"]})
    show_source(initializers.Orthogonal.__call__, initializers.Orthogonal._generate_init_val,
                initializers.VarianceScaling._generate_init_val, initializers._compute_fans,
                initializers.RandomUniform.__init__, lstm.LSTMCell.build,
                lstm.LSTMCell._compute_carry_and_output_fused, lstm.LSTMCell.call,
                lstm.standard_lstm)


def padding_section() -> None:
    print("\n# ======================= PADDING: does LSTM (no mask_zero) read padding steps? "
          "=======================")
    tf.keras.utils.set_random_seed(0)
    m2 = tf.keras.Sequential([
        tf.keras.layers.Embedding(50, 16),
        tf.keras.layers.LSTM(32),
        tf.keras.layers.Dense(1, activation="sigmoid"),
    ])
    padded = np.array([[5, 7, 9] + [0] * 5])
    unpadded = np.array([[5, 7, 9]])
    pa = m2.predict(padded, verbose=0)[0, 0]
    pb = m2.predict(unpadded, verbose=0)[0, 0]
    print(f"p([5,7,9,0,0,0,0,0]) = {pa:.7f} vs p([5,7,9]) = {pb:.7f} -> differ: "
          f"{abs(pa - pb) > 1e-6}  => YES, all 228 steps (incl. trailing 0-padding, embedding "
          "row 0) are processed; output is h after the LAST (padding) step.")
    print("Embedding.compute_mask returns None unless mask_zero=True; "
          "tutorial does not set mask_zero.")


def bce_section() -> None:
    print("\n# ======================= binary_crossentropy with sigmoid output "
          "=======================")
    print("\n".join(BCE_SUMMARY))
    show_source(backend._get_logits, backend.binary_crossentropy, losses.binary_crossentropy,
                activations.sigmoid)

    # empirical: a saturated sigmoid (logit 40) with target 0
    tf.keras.utils.set_random_seed(0)
    inp = tf.keras.Input((1,))
    d = tf.keras.layers.Dense(1, activation="sigmoid",
                              kernel_initializer=tf.keras.initializers.Constant(40.0),
                              bias_initializer="zeros")
    mm = tf.keras.Model(inp, d(inp))
    mm.compile(optimizer="rmsprop", loss="binary_crossentropy")
    X = np.array([[1.0]])
    Y = np.array([[0.0]])
    l_eval = mm.evaluate(X, Y, verbose=0)
    print(f"EMPIRICAL: logit=40, target 0. model.evaluate loss = {l_eval:.6f} ; "
          f"with-logits value = softplus(40) = {np.log1p(np.exp(40.0)):.6f} ; "
          f"clipped-prob value = {-np.log(1 - (1 - 1e-7) + 1e-7):.6f}")
    p = mm(X)
    has_logits = hasattr(p, "_keras_logits")
    eager = float(tf.keras.losses.binary_crossentropy(Y, p)[0])
    print(f"EAGER call on the probability tensor: hasattr(_keras_logits)={has_logits} ; "
          f"tf.keras.losses.binary_crossentropy(Y, mm(X)) = {eager:.6f}")
    clipped = float(tf.keras.losses.binary_crossentropy(Y, tf.constant([[1.0]]))[0])
    print(f"EAGER on a plain probability constant 1.0: {clipped:.6f} (clipped path)")


def main() -> None:
    rmsprop_section()
    initializers_section()
    padding_section()
    bce_section()


if __name__ == "__main__":
    main()
