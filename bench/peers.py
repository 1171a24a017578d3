"""Our presets against the tutorial's Keras pipeline, linear baselines and spaCy, in one run.

Contenders, each trained and measured in its own subprocess (so its peak memory is its own, taken
from ``wait4``'s rusage of that child):

- ``keras``: the tutorial's code on TensorFlow 2.15 (bench/peer_keras.py), run with the python of
  a TensorFlow venv: ``--tf-python PATH`` or ``$LSTM_SENTIMENT_TF_PYTHON``, else the venv in
  ``$LSTM_SENTIMENT_CACHE/tf-venv`` (default ``~/.cache/lstm-sentiment/tf-venv``), created there
  with ``tensorflow-cpu==2.15.1`` on first use. When it cannot be had, Keras is skipped with a
  message and the other contenders still run.
- ``tfidf``, ``nbsvm``: scikit-learn linear models (bench/peer_sklearn.py), with each one's best
  settings in the project's cross-validation (bench/ngram_cv.py): punctuation kept as tokens,
  word 1-3-grams.
- ``spacy-bow``, ``spacy-ensemble``: spaCy 3's ``textcat`` trained from scratch
  (bench/peer_spacy.py), each capped at ``--spacy-minutes`` of training wall time (default 30).
  spaCy is no dependency of the package: they run when this Python imports spaCy 3
  (``pip install 'spacy>=3.7,<4'``) and are skipped with a message otherwise.
- our presets (bench/peer_ours.py): every preset in ``lstm_sentiment.config.PRESETS`` (the seed
  preset with masked padding, the default, first), plus the seed preset reading padding as Keras
  does (``--read-padding``; on by default, off with ``--quick``).

Keras and the seed preset train on the tutorial's 18,750-review split; the accurate preset on its
own 22,500-review split (as shipped), and so do the linear baselines and spaCy, which are compared
with it; all are scored on the official 25,000-review test split. Keras and the seed preset train
for the tutorial's 10 epochs (``--quick``: 1), other presets for their own number unless
``--epochs`` or ``--quick`` is given.

Keras and the seed preset run alternately, ``--repeats`` times each (default 3), before the
others, so their speed ratio is measured in one run on one machine as several pairs; the table
shows the first pair, the ratios every pair. Prints a table with each figure's ratio to Keras
and writes bench/results/peers.json (``peers_quick.json`` with ``--quick``: 1 epoch, the linear
baselines and spaCy on a few thousand reviews).

    python bench/peers.py [--quick] [--epochs N] [--repeats 3] [--spacy-minutes 30]
        [--tf-python PATH] [--no-install] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import peer_spacy
from common import default_source, listed, run_child, spread, target, version_of, write

from lstm_sentiment import data
from lstm_sentiment.config import PRESETS

TITLE = "Peers: Keras, linear baselines, spaCy, our presets"
ORDER = 30
SUMMARY = True
HERE = Path(__file__).resolve().parent
TF_REQUIREMENT = "tensorflow-cpu==2.15.1"
TF_PYTHONS = ((3, 9), (3, 10), (3, 11))  # the Pythons TensorFlow 2.15 has wheels for
TARGET_PEAK_RSS_MB = 400  # issue 7: our seed training (the run, before scoring) stays under this

# (key in each result, column title, format, higher is better)
COLUMNS = [
    ("test_accuracy", "test acc", "{:.4f}", True),
    ("train_seconds", "train s", "{:.1f}", False),
    ("epoch_seconds", "s/epoch", "{:.2f}", False),
    ("single_review_latency_ms", "1 review ms", "{:.2f}", False),
    ("batch_reviews_per_second", "reviews/s", "{:,.0f}", True),
    ("peak_rss_mb", "peak MB", "{:,.0f}", False),
]


def tf_venv_dir() -> Path:
    return data.cache_dir() / "tf-venv"


def _check_tf(python: str) -> tuple[bool, str]:
    """Whether ``python`` imports TensorFlow 2.x with Keras 2; its version or the reason not."""
    code = ("import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'; import tensorflow as tf; "
            "print(tf.__version__)")
    try:
        proc = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"cannot run {python}: {exc}"
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return False, f"{python} cannot import tensorflow ({tail})"
    version = proc.stdout.strip().splitlines()[-1]
    major, minor = (int(x) for x in version.split(".")[:2])
    if (major, minor) >= (2, 16) or major < 2:
        return False, f"{python} has TensorFlow {version}; the tutorial needs Keras 2 (TF <= 2.15)"
    return True, version


def _base_python() -> str | None:
    """A Python that TensorFlow 2.15 supports: this one, else python3.11/3.10/3.9 on PATH."""
    if sys.version_info[:2] in TF_PYTHONS:
        return sys.executable
    import shutil

    for major, minor in reversed(TF_PYTHONS):
        found = shutil.which(f"python{major}.{minor}")
        if found:
            return found
    return None


def _install_tf(venv: Path) -> tuple[str | None, str]:
    base = _base_python()
    if base is None:
        return None, ("no Python 3.9-3.11 found to install TensorFlow 2.15 into "
                      "(pass --tf-python PATH)")
    print(f"peers: creating {venv} with {TF_REQUIREMENT} (once; about 1.3 GB on disk) ...",
          flush=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    python = venv / "bin" / "python"
    steps = [[base, "-m", "venv", "--clear", str(venv)],
             [str(python), "-m", "pip", "install", "-q", TF_REQUIREMENT]]
    for cmd in steps:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"{' '.join(cmd[:4])} failed: {exc}"
        if proc.returncode != 0:
            tail = " / ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            return None, f"{' '.join(cmd[:4])} failed: {tail}"
    ok, why = _check_tf(str(python))
    if not ok:
        return None, why
    (venv / ".complete").write_text(TF_REQUIREMENT + "\n")
    return str(python), why


def find_tf_python(given: str | None, install: bool) -> tuple[str | None, str]:
    """The python to run Keras with, and its TensorFlow version, or None and why not."""
    given = given or os.environ.get("LSTM_SENTIMENT_TF_PYTHON")
    if given:
        ok, why = _check_tf(given)
        return (given, why) if ok else (None, why)
    venv = tf_venv_dir()
    python = venv / "bin" / "python"
    if (venv / ".complete").exists() and python.exists():
        ok, why = _check_tf(str(python))
        if ok:
            return str(python), why
    if not install:
        return None, (f"no TensorFlow venv at {venv} and --no-install given "
                      "(pass --tf-python PATH or drop --no-install)")
    return _install_tf(venv)


def run_worker(name: str, cmd: list[str]) -> dict[str, Any] | None:
    """Run one worker in its own process; its JSON result plus its peak RSS, or None."""
    with tempfile.TemporaryDirectory(prefix=f"peer-{name}-") as tmp:
        out = Path(tmp) / "result.json"
        print(f"\n=== {name}: {' '.join(cmd)}", flush=True)
        child = run_child([*cmd, "--out", str(out)])
        if child["returncode"] != 0 or not out.exists():
            print(f"peers: {name} failed (exit {child['returncode']}); left out", flush=True)
            return None
        result = json.loads(out.read_text())
    result["peak_rss_mb"] = child["peak_rss_mb"]
    result["process_seconds"] = child["seconds"]
    return result


def ratio_table(contenders: list[dict[str, Any]], baseline: dict[str, Any] | None) -> list[str]:
    """Plain-text table: each figure and, in brackets, its ratio to the baseline (Keras)."""
    head = f"{'contender':<40}" + "".join(f"{title:>20}" for _, title, _, _ in COLUMNS)
    lines = [head]
    for c in contenders:
        row = f"{c['label']:<40}"
        for key, _, fmt, _ in COLUMNS:
            row += f"{format_cell(c, baseline, key, fmt):>20}"
        lines.append(row)
    return lines


def _ratio(r: float) -> str:
    """``0.62×``; two significant digits below 0.1 (``0.0083×``)."""
    return f"{r:.2f}×" if r >= 0.1 else f"{r:.2g}×"


def format_cell(c: dict[str, Any], baseline: dict[str, Any] | None, key: str, fmt: str) -> str:
    value = c.get(key)
    if value is None:
        return "–"
    text = fmt.format(value)
    base = (baseline or {}).get(key)
    if base and c is not baseline:
        text += f" ({_ratio(value / base)})"
    return text


SPEED_KEYS = [  # (key, what, higher is better): the figures whose Keras/ours ratio is repeated
    ("train_seconds", "training time", False),
    ("epoch_seconds", "seconds per epoch", False),
    ("batch_reviews_per_second", "batch reviews/s", True),
    ("single_review_latency_ms", "single-review latency", False),
]


def speed_ratios(pairs: list[dict[str, Any]]) -> dict[str, list[float]]:
    """For each speed figure, Keras's over ours per pair (or ours over Keras's for rates), so a
    value above 1 is always ours faster."""
    found: dict[str, list[float]] = {}
    for key, _, higher in SPEED_KEYS:
        values = []
        for pair in pairs:
            keras, ours = pair["keras"].get(key), pair["seed"].get(key)
            if keras and ours:
                values.append(ours / keras if higher else keras / ours)
        found[key] = values
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="1 epoch, no read-padding run, linear baselines and spaCy on a few "
                         "thousand reviews (checks that everything works)")
    ap.add_argument("--epochs", type=int, help="epochs for the neural models (default 10)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="Keras and seed-preset runs, alternating (default 3, at least 3)")
    ap.add_argument("--spacy-minutes", type=float, default=30.0,
                    help="cap on each spaCy model's training wall time (default 30)")
    ap.add_argument("--tf-python", help="python of a venv with tensorflow-cpu 2.15 "
                    "(default: $LSTM_SENTIMENT_TF_PYTHON, else the cached tf-venv)")
    ap.add_argument("--no-install", action="store_true",
                    help="never create the TensorFlow venv; skip Keras when there is none")
    ap.add_argument("--read-padding", action=argparse.BooleanOptionalAction, default=None,
                    help="also run the seed preset reading padding (default: on, off if --quick)")
    ap.add_argument("--only", nargs="+", metavar="NAME",
                    help="run only these contenders (keras tfidf nbsvm spacy-bow spacy-ensemble, "
                         "preset names, seed-read)")
    ap.add_argument("--source", default=default_source())
    args = ap.parse_args()
    if args.repeats < 3:
        ap.error("--repeats must be at least 3: a ratio from fewer pairs says little")
    epochs = args.epochs or (1 if args.quick else 10)
    with_read = (not args.quick) if args.read_padding is None else args.read_padding
    root = data.fetch(args.source)
    quick = ["--quick"] if args.quick else []

    plan: list[tuple[str, list[str] | None]] = []
    skipped: dict[str, str] = {}
    tf_python, tf_version = None, None
    wanted = set(args.only or [])

    def want(name: str) -> bool:
        return not wanted or name in wanted

    py = sys.executable
    keras_cmd = None
    if want("keras"):
        tf_python, why = find_tf_python(args.tf_python, install=not args.no_install)
        if tf_python is None:
            skipped["keras"] = why
            print(f"peers: skipping Keras: {why}", flush=True)
        else:
            tf_version = why
            keras_cmd = [tf_python, str(HERE / "peer_keras.py"), "--imdb", str(root),
                         "--epochs", str(epochs)]
    seed_cmd = [py, str(HERE / "peer_ours.py"), "--preset", "seed", "--epochs", str(epochs),
                "--source", args.source] if want("seed") else None
    # Keras and the seed preset alternate, so each pair shares the machine's state of the moment
    paired = keras_cmd is not None and seed_cmd is not None
    for rep in range(1, (args.repeats if paired else 1) + 1):
        if keras_cmd is not None:
            plan.append(("keras" if rep == 1 else f"keras#{rep}", keras_cmd))
        if seed_cmd is not None:
            plan.append(("seed" if rep == 1 else f"seed#{rep}", seed_cmd))
    for model in ("tfidf", "nbsvm"):
        if want(model):
            plan.append((model, [py, str(HERE / "peer_sklearn.py"), "--model", model,
                                 "--split", "accurate", *quick, "--source", args.source]))
    spacy_ok, spacy_why = peer_spacy.available()
    for arch in ("bow", "ensemble"):
        name = f"spacy-{arch}"
        if not want(name):
            continue
        if not spacy_ok:
            skipped[name] = spacy_why
            print(f"peers: skipping {name}: {spacy_why}", flush=True)
            continue
        plan.append((name, [py, str(HERE / "peer_spacy.py"), "--arch", arch, "--split",
                            "accurate", "--max-minutes", f"{args.spacy_minutes:g}", *quick,
                            "--source", args.source]))
    presets = [p for p in PRESETS if p != "seed"]
    ours = [(p, [py, str(HERE / "peer_ours.py"), "--preset", p]) for p in presets]
    if with_read or "seed-read" in wanted:
        ours.insert(0, ("seed-read", [py, str(HERE / "peer_ours.py"), "--preset", "seed",
                                      "--read-padding"]))
    for name, cmd in ours:
        if want(name):
            # the seed preset runs the tutorial's epochs like Keras; any other preset is run as
            # shipped (its own epochs and split), or as short as --quick asks
            same = name.startswith("seed") or args.quick or args.epochs
            plan.append((name, [*cmd, *(["--epochs", str(epochs)] if same else []),
                                "--source", args.source]))

    names = {"keras", "seed", "tfidf", "nbsvm", "spacy-bow", "spacy-ensemble",
             *(name for name, _ in ours)}
    unknown = wanted - names
    if unknown:
        ap.error(f"unknown contender(s) {sorted(unknown)}: choose from {' '.join(sorted(names))}")
    contenders, repeats, done = [], [], {}
    for name, cmd in plan:
        result = run_worker(name, cmd)
        if result is None:
            skipped[name] = "failed (see the log above)"
            continue
        done[name] = result
        (repeats if "#" in name else contenders).append(result)
    baseline, seed = done.get("keras"), done.get("seed")
    # pair each Keras run with the seed-preset run after it (a failed run drops its pair only)
    pairs = [{"keras": done[k], "seed": done[o]} for k, o in [
        ("keras", "seed"), *((f"keras#{i}", f"seed#{i}") for i in range(2, args.repeats + 1))]
        if k in done and o in done]
    ratios = speed_ratios(pairs)

    print(f"\nPeers: {epochs} epoch(s) for Keras and the seed preset, test = the official "
          "25,000 reviews; (r×) = ratio to Keras")
    for line in ratio_table(contenders, baseline):
        print(line)
    for key, what, _ in SPEED_KEYS:
        if ratios.get(key):
            print(f"seed preset against Keras, {what}: "
                  f"{spread(ratios[key], fmt='{:.2f}', what='alternating pairs')} × faster")
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    if seed is not None:
        training = seed.get("training_peak_rss_mb") or seed["peak_rss_mb"]
        print("seed preset training peak RSS "
              + target(training, TARGET_PEAK_RSS_MB, higher_is_better=False, unit="MB")
              + f"; whole worker, scoring 25,000 reviews after: {seed['peak_rss_mb']:.0f} MB")
    import sklearn

    write("peers" + ("_quick" if args.quick else ""), {
        "quick": args.quick,
        "epochs": epochs,
        "baseline": baseline["name"] if baseline else None,
        "tensorflow": tf_version,
        "tf_python": tf_python,
        "scikit-learn": sklearn.__version__,
        "spacy": spacy_why if spacy_ok else None,
        "spacy_minutes": args.spacy_minutes,
        "target_peak_rss_mb": TARGET_PEAK_RSS_MB,
        "columns": [{"key": k, "title": t, "higher_is_better": h} for k, t, _, h in COLUMNS],
        "contenders": contenders,
        "repeats": repeats,
        "speed_pairs": len(pairs),
        "speed_ratios": ratios,
        "skipped": skipped,
    }, per_cpu=True)


# the rendered table's columns: (key, title, format)
RENDER_COLUMNS = [("n_train", "trained on", "{:,}"),
                  ("validation_accuracy", "validation acc", "{:.4f}"), *[
                      (k, t, f) for k, t, f, _ in COLUMNS]]
RENDER_TITLES = {"test_accuracy": "test acc", "train_seconds": "train time (s)",
                 "epoch_seconds": "s / epoch", "single_review_latency_ms": "single review (ms)",
                 "batch_reviews_per_second": "batch reviews/s", "peak_rss_mb": "peak RSS (MB)"}


def _speed_lines(r: dict[str, Any]) -> list[str]:
    ratios = r.get("speed_ratios") or {}
    if not any(ratios.values()):
        return []
    cpu = r.get("machine", {}).get("cpu", "an unnamed CPU")
    cores = r.get("machine", {}).get("usable_cores") or r.get("machine", {}).get("cores")
    lines = ["", f"Seed preset against the tutorial's Keras code, {r['speed_pairs']} runs of "
             "each alternating in this one run (Keras, ours, Keras, ours, ...) on "
             f"{cpu}, {cores} cores; how many times faster ours is (Keras's time over ours, or "
             "our rate over Keras's):", ""]
    for key, what, _ in SPEED_KEYS:
        if ratios.get(key):
            lines.append(f"- {what}: "
                         + spread(ratios[key], fmt="{:.2f}", what="alternating pairs"))
    return lines


def render(r: dict[str, Any]) -> str:
    contenders = r["contenders"]
    base = next((c for c in contenders if c["name"] == r.get("baseline")), None)
    epochs = f"{r['epochs']} epoch{'s' if r['epochs'] != 1 else ''}"
    names = {c["name"] for c in contenders}
    spacy = any(n.startswith("spacy-") for n in names)
    linear = bool(names & {"tfidf", "nbsvm"})
    # a run from before the linear peers moved to the accurate preset's split
    old = linear and not any("split" in c for c in contenders)
    on_22500 = [what for what, there in (("the accurate preset", "accurate" in names),
                                         ("the linear baselines", linear), ("spaCy", spacy))
                if there]
    trained = "the tutorial's 18,750-review split"
    if old:
        trained += " (the accurate preset: its own 22,500, as shipped)"
    elif on_22500:
        trained += (" for Keras and the seed preset, the accurate preset's 22,500 for "
                    f"{listed(on_22500)}, which are compared with it")
    run = [what for what, there in (("the tutorial's Keras code", base is not None),
                                    ("linear baselines", linear), ("spaCy", spacy),
                                    ("our presets", True)) if there]
    lines = [f"One run: {listed(run)}, "
             f"trained on {trained}; Keras and the seed preset {epochs}; test = the official "
             "25,000 reviews. "
             + ("In brackets: the ratio to Keras (for times and memory lower is better, for "
                "accuracy and reviews/s higher)." if base else "Keras was not run."), "",
             "| | " + " | ".join(RENDER_TITLES.get(k, t) for k, t, _ in RENDER_COLUMNS) + " |",
             "|---" * (len(RENDER_COLUMNS) + 1) + "|"]
    for c in contenders:
        cells = [format_cell(c, base if k != "n_train" else None, k, f)
                 for k, _, f in RENDER_COLUMNS]
        lines.append(f"| {c['label']} | " + " | ".join(cells) + " |")
    lines += ["", "Train time: vocabulary (or vectorizer) plus fitting, validation after each "
              "epoch included; s / epoch: the median epoch, validation included (Keras and ours "
              "alike). Single review: `SentimentModel.predict` / Keras `model.predict`"
              f"{' / `Pipeline.predict_proba`' if linear else ''}"
              f"{' / spaCy `nlp(text)`' if spacy else ''} on one "
              "text, median of 20. Batch: "
              "prediction on the 25,000 test reviews, tokenizing included (Keras: "
              "`model.predict`, batch 1000). Peak RSS: the contender's whole process (data, "
              "training, test), from `wait4`. One seed each: the accuracies carry seed noise "
              "(see the accuracy over seeds)."]
    if linear and not old:
        lines += ["", "Linear baselines: punctuation kept as tokens, word 1-3-grams, each "
                  "model's best settings in the five-fold cross-validation on the training "
                  "reviews (bench/ngram_cv.py; bench/peer_sklearn.py's `SETTINGS`)."]
    lines += _speed_lines(r)
    lines += peer_spacy.render_lines(r)
    versions = [f"torch {version_of(r, 'torch')}"]
    if r.get("tensorflow"):
        versions.append(f"tensorflow-cpu {r['tensorflow']}")
    if r.get("scikit-learn"):
        versions.append(f"scikit-learn {r['scikit-learn']}")
    if r.get("spacy"):
        versions.append(f"spacy {r['spacy']}")
    lines += ["", "Versions: " + ", ".join(versions) + "."]
    seed = next((c for c in contenders if c["name"] == "seed"), None)
    if seed is not None:
        goal = r.get("target_peak_rss_mb", TARGET_PEAK_RSS_MB)
        keras = f"; Keras's worker: {base['peak_rss_mb']:,.0f} MB" if base else ""
        training = seed.get("training_peak_rss_mb")
        if training is None:  # a run from before the training peak was recorded apart
            lines += ["", "Peak memory of seed-preset training: "
                      + target(seed["peak_rss_mb"], goal, higher_is_better=False, unit="MB")
                      + f"{keras}."]
        else:
            lines += ["", "Peak memory of seed-preset training (the training run, its test "
                      "evaluation included): "
                      + target(training, goal, higher_is_better=False, unit="MB")
                      + ". The table's figure is the whole worker's, which then scores the "
                      f"25,000 test reviews: {seed['peak_rss_mb']:,.0f} MB{keras}."]
    for name, why in r.get("skipped", {}).items():
        lines += ["", f"Skipped {name}: {why}"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
