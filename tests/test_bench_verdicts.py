"""What bench scripts conclude from their figures (bench/cpu_settings.py, bench/lstm_part.py,
bench/gpu.py, bench/score_cores.py), checked on made-up results without measuring anything."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import cpu_settings  # noqa: E402 (bench/ is a folder of scripts, not a package)
import gpu  # noqa: E402
import lstm_part  # noqa: E402
import score_cores  # noqa: E402


def _setting(name: str, masked: list[float], read: list[float]) -> dict[str, Any]:
    return {"setting": name, "masked": sorted(masked)[len(masked) // 2], "masked_all": masked,
            "read": sorted(read)[len(read) // 2], "read_all": read}


def test_a_setting_is_named_only_when_every_round_beats_every_round_of_the_defaults() -> None:
    defaults = _setting("defaults", [3.0, 2.5], [4.0, 3.5])
    clear = _setting("tcmalloc", [2.0, 2.2], [3.0, 3.1])
    overlapping = _setting("jemalloc", [2.0, 2.6], [3.0, 3.1])  # one round above 2.5
    one_mode = _setting("one thread", [2.0, 2.1], [3.6, 3.4])  # read padding not faster
    assert cpu_settings._verdict([defaults, clear, overlapping, one_mode]) == (
        "Faster than the defaults in every round and both padding modes: tcmalloc.")
    assert cpu_settings._verdict([defaults, overlapping, one_mode]).startswith("No setting")


def _lstm_part(bounds: dict[str, float]) -> dict[str, Any]:
    caps = dict.fromkeys(lstm_part.SHOWN, 0.9)
    rows = [{"name": name, "change": "c", "seed": seed, "seconds": 100.0,
             "validation_accuracy": 0.92 + seed / 1000, "validation_sentences": 0.7,
             "dev": 0.93, "dev_capabilities": caps}
            for name in bounds for seed in range(1, 6)]
    speed = {name: {"encode_us": 70.0, "network_one_thread_us": 2e6 / b - 70.0, "cores": 2,
                    "bound_reviews_per_second": b} for name, b in bounds.items()}
    return {"seeds": [1, 2, 3, 4, 5], "rows": rows, "speed": speed, "speed_reviews": 2500,
            "target_reviews_per_second": 4000.0}


def test_lstm_part_names_the_variants_whose_bound_reaches_the_target() -> None:
    text = lstm_part.render(_lstm_part({"preset": 3400.0, "forward": 4800.0, "short": 5600.0}))
    assert "forward and short have one." in text
    assert "sd over 5 seeds" in text and "| preset | c | 0.9230 | 0.700 | 0.930 |" in text
    assert "no variant has one." in lstm_part.render(_lstm_part({"preset": 3999.0}))
    assert "; forward has one." in lstm_part.render(
        _lstm_part({"preset": 3400.0, "forward": 4000.0}))


def _gpu(**extra: Any) -> dict[str, Any]:
    run = {"epoch_seconds_mean": 1.0, "training_seconds": 10.0, "wall_seconds": 20.0,
           "validation_accuracy": 0.9, "test_accuracy": 0.9}
    return {"training_seed": 1, "gpu": "H200", "cuda": "13.0", **extra,
            "seed": {"cpu": run, "cuda": run, "test_label_agreement": 0.97,
                     "test_max_probability_gap": 0.5}}


def test_gpu_render_says_whether_the_unlabelled_reviews_were_there() -> None:
    assert "with the 50,000 unlabelled reviews of train/unsup" in gpu.render(
        _gpu(n_unlabelled=50000))
    assert "without train/unsup" in gpu.render(_gpu(n_unlabelled=0))
    assert "without train/unsup" in gpu.render(_gpu())  # older runs did not record it


def test_score_against_cores_joins_pinned_runs_with_the_every_core_ones() -> None:
    def run(per_s: float) -> dict[str, Any]:
        return {"rows": 100, "seconds": 100 / per_s, "peak_rss_mb": 300.0,
                "reviews_per_second": per_s}

    result = {"quick": False, "rows": 100, "cores": 4,
              "runs": {"seed": {"1": run(900.0), "2": run(1500.0), "4": run(2000.0)}},
              "pinned": {"seed": {"1": {"1": run(500.0)},
                                  "2": {"1": run(800.0), "2": run(950.0)}}}}
    assert score_cores.against_cores(result) == {
        "seed": {1: {1: 500.0}, 2: {1: 800.0, 2: 950.0}, 4: {1: 900.0, 4: 2000.0}}}
    page = score_cores.render(result)
    assert "| seed | 1 | 500 | – | 1.00x |" in page
    assert "| seed | 4 | 900 | 2,000 | 4.00x |" in page  # the better of the two, over one core
    del result["pinned"]  # a run from before pinning renders its workers table alone
    assert "Against cores" not in score_cores.render(result)
