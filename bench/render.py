"""Render the benchmark results into the READMEs (never typed by hand).

    python bench/render.py           # rewrites bench/README.md and README.md's results block
    python bench/render.py --check   # exit 1 if either is out of date with bench/results/

Both are generated from ``bench/results/*.json``: ``bench/README.md`` entirely (how to run, then
every result, falling back to ``*_quick.json`` results, marked as such, where no full run exists),
the block of the top-level ``README.md`` between ``<!-- bench:start -->`` and
``<!-- bench:end -->`` (full runs only), and the same block of ``docs/accurate.md`` (the accurate
preset's runs and ablations).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from common import preset_settings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
README = ROOT / "README.md"
BENCH_README = ROOT / "bench" / "README.md"
ACCURATE_DOC = ROOT / "docs" / "accurate.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
QUICK_NOTE = ("*Quick run (`--quick`): a smoke test of the benchmark, not a measurement; run the "
              "script without `--quick` for real figures.*")


def _load(name: str, quick_ok: bool = False) -> tuple[dict | None, bool]:
    """The full result ``name.json``, else (if ``quick_ok``) ``name_quick.json``; and whether
    the one returned is a quick run."""
    for suffix, quick in (("", False), ("_quick", True)):
        path = RESULTS / f"{name}{suffix}.json"
        if path.exists() and (quick_ok or not quick):
            return json.loads(path.read_text()), quick
    return None, False


def _pm(stat: dict) -> str:
    return f"{stat['mean']:.4f} ± {stat['sd']:.4f}"


def _machine(r: dict, threads: int | None = None) -> str:
    m = r["machine"]
    cores = f"{m['cores']} cores" if threads is None else f"{threads} threads"
    return f"{m['cpu']}, {cores}, {m['date']}"


def accuracy_section(r: dict) -> list[str]:
    lines = [f"Seed preset, full data, {r['epochs']} epochs, seeds {r['seeds']} "
             f"({r['machine']['cpu']}, {r['machine']['cores']} cores, {r['machine']['date']}):",
             "",
             "| LSTM padding | final validation accuracy | official test accuracy | per seed "
             "(validation / test) |",
             "|---|---|---|---|"]
    for mode, label in (("masked", "masked (default)"), ("read", "read, as Keras does")):
        if mode not in r:
            continue
        m = r[mode]
        seeds = ", ".join(f"{x['seed']}: {x['validation_accuracy']:.4f} / "
                          f"{x['test_accuracy']:.4f}" for x in m["runs"])
        lines.append(f"| {label} | {_pm(m['validation_accuracy'])} | "
                     f"{_pm(m['test_accuracy'])} | {seeds} |")
    if r.get("tutorial_sentences"):
        lines += ["", "The tutorial's example sentences, labelled by the seed-1 model "
                  "(masked padding):", "", "| text | label | p(positive) |", "|---|---|---|"]
        for s in r["tutorial_sentences"]:
            lines.append(f"| {s['text']} | {s['label']} | {s['score']:.4f} |")
    return lines


def accurate_section(r: dict) -> list[str]:
    m = r["machine"]
    lines = [f"Accurate preset, one `lstm-sentiment train --preset accurate` command per seed, "
             f"seeds {r['seeds']} ({m['cpu']}, {m['cores']} cores, {m['date']}); trained on "
             "22,500 reviews, validated on 2,500, tested on the official 25,000:", "",
             "| | validation accuracy | official test accuracy |", "|---|---|---|",
             f"| whole model (LSTM + n-grams) | {_pm(r['validation_accuracy'])} | "
             f"{_pm(r['test_accuracy'])} |",
             f"| its LSTM alone | {_pm(r['lstm_validation_accuracy'])} | "
             f"{_pm(r['lstm_test_accuracy'])} |",
             f"| its n-gram branch alone | {_pm(r['ngrams_validation_accuracy'])} | "
             f"{_pm(r['ngrams_test_accuracy'])} |", "",
             "| seed | test accuracy | wall time, whole command (s) | peak RSS (MB) |",
             "|---|---|---|---|"]
    for run in r["runs"]:
        rss = f"{run['peak_rss_mb']:,.0f}" if run.get("peak_rss_mb") else "–"
        lines.append(f"| {run['seed']} | {run['test_accuracy']:.4f} | "
                     f"{run['wall_seconds']:.0f} | {rss} |")
    sc = r["scoring"]
    lines += ["", f"Scoring the {sc['n']:,} test reviews with the seed-{r['seeds'][0]} model: "
              f"{sc['api_reviews_per_second']:,.0f} reviews/s through `predict_proba` "
              f"(tokenizing included), {sc['score_file_reviews_per_second']:,.0f} reviews/s "
              "through `score` on a CSV (reading and writing included); target "
              f"{SCORE_TARGETS['accurate']:,} reviews/s, "
              f"{_met(sc['score_file_reviews_per_second'] >= SCORE_TARGETS['accurate'])}."]
    return lines


# batch scoring targets (reviews/s, reading, tokenizing and writing included)
SCORE_TARGETS = {"seed": 30_000, "accurate": 2_000}


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def ablations_section(r: dict) -> list[str]:
    m = r["machine"]
    threads = f"{r['threads']} thread{'s' if r['threads'] > 1 else ''}" if r.get("threads") \
        else f"{m['cores']} cores"
    lines = [f"Ablations of the accurate preset, one change at a time, validation split only "
             f"({m['cpu']}, {threads}, {m['date']}):", "",
             "| variant | change | validation accuracy | LSTM alone | n-grams alone | "
             "wall time (s) |", "|---|---|---|---|---|---|"]

    def cell(v: float | None) -> str:
        return "–" if v is None else f"{v:.4f}"

    for row in r["rows"]:
        lines.append(f"| {row['name']} | {row['change']} | {row['validation_accuracy']:.4f} | "
                     f"{cell(row['lstm_validation_accuracy'])} | "
                     f"{cell(row['ngrams_validation_accuracy'])} | {row['seconds']:.0f} |")
    if r.get("preset_config") != preset_settings("accurate"):
        lines += ["", "The preset has changed since this table was measured (or the run recorded "
                  "no settings): its `preset` row is the preset as it was then. Rerun "
                  "`python bench/ablations.py` for current figures."]
    return lines


def speed_section(r: dict) -> list[str]:
    lines = [f"Seed preset speed ({r['machine']['cpu']}, {r['threads']} threads, "
             f"{r['reviews']:,} training reviews, {r['machine']['date']}):", "",
             "| LSTM padding | s / epoch | training reviews/s | inference reviews/s | "
             "single review p50 (ms) |", "|---|---|---|---|---|"]
    for mode in ("masked", "read"):
        if mode not in r:
            continue
        m = r[mode]
        lines.append(f"| {mode} | {m['epoch_seconds']:.2f} | {m['train_reviews_per_second']:,.0f}"
                     f" | {m['inference_reviews_per_second']:,.0f} | "
                     f"{m['single_review_latency_ms_p50']:.2f} |")
    lines += ["", f"Vocabulary + encoding of the training split: "
              f"{r['vocabulary_and_encoding_seconds']:.1f} s."]
    return lines


def lstm_section(r: dict) -> list[str]:
    lines = ["Reference LSTM (gate equations in Python) against the fused `torch.nn.LSTM`, "
             "batch 100 × 228 steps:", "", "| | forward ms | training step ms |", "|---|---|---|"]
    for name in ("reference", "fused"):
        m = r["results"][name] if "results" in r else r[name]
        lines.append(f"| {name} | {m['forward_ms']:.1f} | {m['train_step_ms']:.1f} |")
    return lines


# (key, column title, format, higher is better)
PEER_COLUMNS = [
    ("validation_accuracy", "validation acc", "{:.4f}", True),
    ("test_accuracy", "test acc", "{:.4f}", True),
    ("train_seconds", "train time (s)", "{:.1f}", False),
    ("epoch_seconds", "s / epoch", "{:.2f}", False),
    ("single_review_latency_ms", "single review (ms)", "{:.2f}", False),
    ("batch_reviews_per_second", "batch reviews/s", "{:,.0f}", True),
    ("peak_rss_mb", "peak RSS (MB)", "{:,.0f}", False),
]


def _ratio(r: float) -> str:
    """``0.62×``; two significant digits below 0.1 (``0.0083×``)."""
    return f"{r:.2f}×" if r >= 0.1 else f"{r:.2g}×"


def _peer_cell(c: dict, base: dict | None, key: str, fmt: str) -> str:
    value = c.get(key)
    if value is None:
        return "–"
    text = fmt.format(value)
    if base is not None and c is not base and base.get(key):
        text += f" ({_ratio(value / base[key])})"
    return text


def peers_section(r: dict) -> list[str]:
    contenders = r["contenders"]
    base = next((c for c in contenders if c["name"] == r.get("baseline")), None)
    m = r["machine"]
    lines = [f"Peers, one run ({_machine(r)}): the tutorial's Keras code, linear baselines and "
             f"our presets, trained on the tutorial's 18,750-review split"
             + (" (the accurate preset: its own 22,500, as shipped)"
                if any(c["name"] == "accurate" for c in contenders) else "")
             + f"; Keras and the seed preset "
             f"{r['epochs']} epoch{'s' if r['epochs'] != 1 else ''}; test = the official "
             "25,000 reviews. "
             + ("In brackets: the ratio to Keras (for times and memory lower is better, for "
                "accuracy and reviews/s higher)." if base else "Keras was not run."), "",
             "| | " + " | ".join(t for _, t, _, _ in PEER_COLUMNS) + " |",
             "|---" * (len(PEER_COLUMNS) + 1) + "|"]
    for c in contenders:
        cells = [_peer_cell(c, base, k, f) for k, _, f, _ in PEER_COLUMNS]
        lines.append(f"| {c['label']} | " + " | ".join(cells) + " |")
    lines += ["", "Train time: vocabulary (or vectorizer) plus fitting, validation after each "
              "epoch included; s / epoch: the median epoch, validation included (Keras and ours "
              "alike). Single review: `SentimentModel.predict` / Keras `model.predict` / "
              "`Pipeline.predict_proba` on one text, median of 20. Batch: prediction on the "
              "25,000 test reviews, tokenizing included (Keras: `model.predict`, batch 1000). "
              "Peak RSS: the contender's whole process (data, training, test), from `wait4`."]
    versions = [f"torch {m['torch']}"]
    if r.get("tensorflow"):
        versions.append(f"tensorflow-cpu {r['tensorflow']}")
    if r.get("scikit-learn"):
        versions.append(f"scikit-learn {r['scikit-learn']}")
    lines += ["", "Versions: " + ", ".join(versions) + "."]
    seed = next((c for c in contenders if c["name"] == "seed"), None)
    if seed is not None:
        target = r.get("target_peak_rss_mb", 400)
        keras = f"; Keras's worker: {base['peak_rss_mb']:,.0f} MB" if base else ""
        training = seed.get("training_peak_rss_mb")
        if training is None:  # a run from before the training peak was recorded apart
            verdict = "within" if seed["peak_rss_mb"] <= target else "over"
            lines += ["", f"Peak memory of seed-preset training: {seed['peak_rss_mb']:,.0f} MB "
                      f"RSS, {verdict} the {target} MB target{keras}."]
        else:
            verdict = "within" if training <= target else "over"
            lines += ["", f"Peak memory of seed-preset training (the training run, its test "
                      f"evaluation included): {training:,.0f} MB RSS, {verdict} the {target} MB "
                      f"target. The table's figure is the whole worker's, which then scores "
                      f"the 25,000 test reviews: {seed['peak_rss_mb']:,.0f} MB{keras}."]
    for name, why in r.get("skipped", {}).items():
        lines += ["", f"Skipped {name}: {why}"]
    return lines


def flops_section(r: dict) -> list[str]:
    small = ", ".join(f"{k}: {v:.1f}" for k, v in r.get("small_matmul_gflops", {}).items())
    lines = [f"Arithmetic throughput of seed-preset training ({r['machine']['cpu']}, "
             f"{r['threads']} threads, {r['reviews']:,} reviews, {r['machine']['date']}). "
             f"Measured float32 matmul peak (n = {r['matmul_size']}): "
             f"**{r['peak_gflops']:.1f} GFLOP/s**. FLOPs counted analytically (bench/flops.py; "
             "backward = 2× forward):", "",
             "| LSTM padding | GFLOP / epoch | in matmuls | steps / review | s / epoch | "
             "achieved GFLOP/s | of peak |", "|---|---|---|---|---|---|---|"]
    for mode in ("masked", "read"):
        if mode not in r:
            continue
        m = r[mode]
        lines.append(f"| {mode} | {m['gflop_per_epoch']:.1f} | {m['gflop_per_epoch_matmul']:.1f}"
                     f" | {m['mean_steps_per_review']:.0f} | {m['epoch_seconds']:.2f} | "
                     f"{m['achieved_gflops']:.1f} | {100 * m['fraction_of_peak']:.1f} % |")
    if small:
        lines += ["", f"Float32 matmuls at the LSTM's own shapes, GFLOP/s: {small}. The "
                  "recurrent product of each time step ([100, 32] × [32, 128]) waits for the "
                  "previous step and is far too small to approach the peak."]
    return lines


def scaling_section(r: dict, with_plot: bool) -> list[str]:
    fixed = r["fixed"]
    lines = [f"Scaling of the seed preset ({_machine(r, r['threads'])}); inference = "
             f"`predict_proba` on {r['inference_reviews']:,} validation reviews:", ""]
    for key, title, col in (("size", f"training reviews (length {fixed['length']})", "size"),
                            ("length", f"sequence length ({fixed['size']:,} reviews)", "length")):
        lines += [f"| {title} | " + " | ".join(f"{m} s / epoch | {m} inference reviews/s"
                                                for m in r["modes"]) + " |",
                  "|---" * (1 + 2 * len(r["modes"])) + "|"]
        for i, x in enumerate(r[col + "s"]):
            cells = []
            for mode in r["modes"]:
                p = r[f"by_{key}"][mode][i]
                cells += [f"{p['epoch_seconds']:.2f}", f"{p['inference_reviews_per_second']:,.0f}"]
            lines.append(f"| {x:,} | " + " | ".join(cells) + " |")
        lines.append("")
    if with_plot and r.get("plot"):
        lines.append(f"![scaling](results/{r['plot']})")
    return lines


def serve_section(r: dict) -> list[str]:
    a, h = r["api_single_review"], r["http_single_review"]
    best = max(v for k, v in r.items() if k.startswith("score") and k.endswith("_per_second"))
    return [f"Serving ({_machine(r)}):", "", "| | p50 ms | p90 ms | p99 ms |", "|---|---|---|---|",
            f"| Python API, one review | {a['p50_ms']:.2f} | {a['p90_ms']:.2f} | "
            f"{a['p99_ms']:.2f} |",
            f"| HTTP on loopback, one review | {h['p50_ms']:.2f} | {h['p90_ms']:.2f} | "
            f"{h['p99_ms']:.2f} |", "",
            f"`score`: {r['score_reviews']:,} reviews at {r['score_reviews_per_second']:,.0f} "
            "reviews/s (read, tokenize, predict, write)"
            + (f"; with `--workers 2`: {r['score_2_workers_reviews_per_second']:,.0f} reviews/s"
               if "score_2_workers_reviews_per_second" in r else "")
            + (f". The same reviews four times over ({r['score_big_reviews']:,}): "
               f"{r['score_big_reviews_per_second']:,.0f} reviews/s, with `--workers 2` "
               f"{r['score_big_2_workers_reviews_per_second']:,.0f}"
               if "score_big_reviews" in r else "")
            + f". Target {SCORE_TARGETS['seed']:,} reviews/s: "
            f"{_met(best >= SCORE_TARGETS['seed'])} "
            "(why: the batch scoring table below)."]


def score_parts_section(r: dict) -> list[str]:
    lines = [f"Batch scoring, one review's share of each part ({_machine(r)}; official test "
             f"reviews as plain lines, JSON Lines out; microseconds per review, fastest of "
             "three):", "",
             "| preset | read | encode | network | network, one thread | write | "
             "one core's work | `score` reviews/s | bound on "
             f"{r['seed']['cores']} cores | target |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name in ("seed", "accurate"):
        p = r[name]
        lines.append(f"| {name} | {p['read_us']:.1f} | {p['encode_us']:.1f} | "
                     f"{p['network_us']:.1f} | {p['network_one_thread_us']:.1f} | "
                     f"{p['write_us']:.1f} | {p['one_core_work_us']:.1f} | "
                     f"{p['score_reviews_per_second']:,.0f} | "
                     f"{p['bound_reviews_per_second']:,.0f} | {SCORE_TARGETS[name]:,} |")
    lines += ["", "*One core's work* is read + encode + network on one thread + write. However "
              "the parts were spread over processes, the cores could not score more than cores / "
              "work reviews per second: the *bound*. Reading, encoding and writing are Python "
              "and hold the interpreter's lock, so within one process they take turns with the "
              "network; `score` runs the network's batches side by side, one per core."]
    short = [n for n in ("seed", "accurate")
             if r[n]["bound_reviews_per_second"] < SCORE_TARGETS[n]]
    if short:
        lines += ["", f"The {' and '.join(short)} target lies above the bound on this machine: "
                  "no split of the same work over its cores reaches it; only less work per "
                  "review (or more cores) can."]
    return lines


def load_section(r: dict) -> list[str]:
    lat = r["latency"]
    return [f"{r['mode'].capitalize()} test ({_machine(r)}): {r['clients']} clients, "
            f"{r['requests']:,} requests in {r['seconds']:.1f} s ({r['requests_per_second']:,.0f}"
            f" requests/s), {r['errors']} errors; latency p50 {lat['p50_ms']:.1f} ms, p99 "
            f"{lat['p99_ms']:.1f} ms; server RSS {r['server_rss_mb_before']:.0f} → "
            f"{r['server_rss_mb_after']:.0f} MB ({r['rss_growth_percent']:+.1f} %)."]


def gpu_section(r: dict) -> list[str]:
    m = r["machine"]
    lines = [f"CUDA against the CPU, one `train` command each, seed {r['training_seed']}, same "
             f"data (without train/unsup), on one machine ({r['gpu']}, CUDA {r['cuda']}; "
             f"{m['cpu']}, {m['cores']} cores; torch {m['torch']}; {m['date']}):", "",
             "| preset | device | s per epoch | training s | wall s | validation | official test "
             "| test labels agreeing | largest p gap |", "|---|---|---|---|---|---|---|---|---|"]
    for preset in ("seed", "accurate"):
        if preset not in r:
            continue
        for dev in ("cpu", "cuda"):
            x = r[preset][dev]
            shared = (f"{r[preset]['test_label_agreement']:.2%} | "
                      f"{r[preset]['test_max_probability_gap']:.2f}" if dev == "cuda" else " | ")
            lines.append(f"| {preset} | {dev} | {x['epoch_seconds_mean']:.2f} | "
                         f"{x['training_seconds']:.1f} | {x['wall_seconds']:.0f} | "
                         f"{x['validation_accuracy']:.4f} | {x['test_accuracy']:.4f} | {shared} |")
    changed = [p for p in ("seed", "accurate")
               if p in r and r[p].get("preset_config") != preset_settings(p)]
    if changed:
        which = (f"the {changed[0]} preset may not show it as it is" if len(changed) == 1 else
                 f"the {' and '.join(changed)} presets may not show them as they are")
        lines += ["", f"Rows of {which} now: this run recorded other settings, or none. Rerun "
                  "`python bench/gpu.py` on a CUDA machine for current figures."]
    return lines


Section = tuple[str, str, Callable[[dict], list[str]]]


def sections(bench_readme: bool) -> list[Section]:
    """(result name, heading in bench/README.md, renderer), in reading order."""
    return [
        ("seed_accuracy", "Accuracy over seeds", accuracy_section),
        ("accurate", "Accurate preset", accurate_section),
        ("ablations", "Accurate preset: ablations", ablations_section),
        ("peers", "Peers: Keras, linear baselines, our presets", peers_section),
        ("seed_speed", "Seed preset speed", speed_section),
        ("flops", "GFLOP/s against the machine's peak", flops_section),
        ("scaling", "Scaling with data size and sequence length",
         lambda r: scaling_section(r, with_plot=bench_readme)),
        ("lstm_speed", "Reference against fused LSTM", lstm_section),
        ("serve_speed", "Serving", serve_section),
        ("score_parts", "Batch scoring speed", score_parts_section),
        ("gpu", "CUDA against the CPU", gpu_section),
        ("load", "Load test", load_section),
        ("soak", "Soak test", load_section),
    ]


def _full_runs(named: list[tuple[str, Callable[[dict], list[str]]]]) -> list[str]:
    """Each named result's section, blank-line separated; results with no full run left out."""
    parts: list[str] = []
    for name, section in named:
        r, _ = _load(name)
        if r is not None:
            parts += [*section(r), ""]
    return parts


def render_block() -> str:
    """The top-level README's results block: full runs only."""
    parts = _full_runs([(name, section) for name, _, section in sections(bench_readme=False)])
    parts.append("More, with how to run each benchmark and the scaling plot: "
                 "[bench/README.md](bench/README.md).")
    return "\n".join(parts).rstrip() + "\n"


HOW_TO_RUN = """\
# Benchmarks

*Generated by `python bench/render.py` from `bench/results/*.json`; do not edit by hand.*

Every script prints its figures and writes `bench/results/NAME.json` (`NAME_quick.json` with
`--quick`, a fast smoke test) with the machine's details: CPU model, cores, threads, library
versions and date. Run from the repository root with the project's venv:

```
.venv/bin/python -m bench               # every benchmark below, then this page (about 30 min)
.venv/bin/python -m bench --quick       # all of them in a few minutes, to check they work
.venv/bin/python -m bench --only peers flops
.venv/bin/python bench/peers.py [--quick] [--tf-python PATH] [--no-install]
.venv/bin/python bench/render.py        # regenerate this page and README.md's results
```

- `seed_accuracy.py`: the seed preset's validation and official test accuracy over seeds, in
  both padding modes.
- `accurate.py`: the accurate preset over seeds, one CLI command each (wall time, peak RSS, each
  part's accuracy alone), and its scoring throughput.
- `ablations.py`: the accurate preset with one setting changed at a time, validation only.
- `peers.py`: the tutorial's Keras code, TF-IDF and NBSVM-style logistic regression and our
  presets in one run: accuracy, train and epoch time, single-review latency, batch throughput and
  peak RSS, each with its ratio to Keras.
- `seed_speed.py`: seconds per epoch, training and inference reviews/s, single-review latency.
- `flops.py`: achieved GFLOP/s of seed training against a measured float32 matmul peak.
- `scaling.py`: epoch time and inference throughput against training-set size and sequence
  length, with a plot.
- `lstm_speed.py`: the reference LSTM (gate equations in Python) against the fused one.
- `serve_speed.py`, `load.py`: serving latency and `score` throughput; a bounded load test (or a
  soak test with `--duration`) on loopback.
- `score_parts.py`: where a review's time goes in `score` (reading, tokenizing, the network,
  writing) for both presets, and the most any split over the cores could score.
- `gpu.py`: the same training command with `--device cpu` and `--device cuda` on one GPU machine
  (skipped by `python -m bench` where no CUDA device is visible).

`peers.py` runs the tutorial's code with TensorFlow 2.15 (Keras 2) from a venv of its own: the
python given by `--tf-python PATH` or `$LSTM_SENTIMENT_TF_PYTHON`, else
`$LSTM_SENTIMENT_CACHE/tf-venv` (default `~/.cache/lstm-sentiment/tf-venv`), which it creates
with `pip install tensorflow-cpu==2.15.1` on first use (about 1.3 GB on disk; `--no-install`
never does). When TensorFlow cannot be had, Keras is skipped with a message and the rest still
runs. Each contender trains and is measured in its own process, so its peak RSS is its own. The
dataset is `$LSTM_SENTIMENT_SOURCE`, else `../shared/data/aclImdb_v1.tar.gz`.

Timings depend on the machine and on what else runs on it; compare figures from the same run.
"""


def render_accurate_block() -> str:
    """docs/accurate.md's figures: the accurate preset's runs and ablations (full runs only)."""
    parts = (_full_runs([("accurate", accurate_section), ("ablations", ablations_section)])
             or ["*No full run recorded yet.*", ""])
    return "\n".join(parts).rstrip() + "\n"


def render_bench_readme() -> str:
    parts = [HOW_TO_RUN]
    for name, heading, section in sections(bench_readme=True):
        r, quick = _load(name, quick_ok=True)
        if r is None:
            continue
        parts += [f"## {heading}", ""]
        if quick:
            parts += [QUICK_NOTE, ""]
        parts += [*section(r), ""]
    return "\n".join(parts).rstrip() + "\n"


def _with_block(text: str, block: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{block}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if a README is out of date")
    ap.add_argument("--bench-only", action="store_true",
                    help="write bench/README.md only, leave README.md alone")
    args = ap.parse_args(argv)
    targets = [(BENCH_README, render_bench_readme())]
    if not args.bench_only:
        targets.append((README, _with_block(README.read_text(), render_block())))
        targets.append((ACCURATE_DOC, _with_block(ACCURATE_DOC.read_text(),
                                                  render_accurate_block())))
    stale = []
    for path, text in targets:
        if not path.exists() or path.read_text() != text:
            stale.append(path)
            if not args.check:
                path.write_text(text)
                print(f"updated {path}")
    if args.check and stale:
        print("out of date: " + ", ".join(str(p.relative_to(ROOT)) for p in stale))
        return 1
    if not stale:
        print("up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
