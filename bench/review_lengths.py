"""How long the training reviews are in tokens: what the presets' row lengths hold whole.

Counts the tokens of each of the 25,000 labelled training reviews under each standardization
(the tutorial's, and punctuation kept as tokens: the accurate preset's) and reports the share of
reviews that fit whole in the row lengths the presets and ablations use (228: the tutorial's and
the seed preset's; 400: the accurate preset's LSTM part; 1,000: the accurate preset's rows), with
the median and the 90th and 99th percentiles. Never reads ``test/``. Takes seconds.

    python bench/review_lengths.py [--quick]
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from common import default_source, write

from lstm_sentiment import data
from lstm_sentiment.text import standardized

TITLE = "Review lengths in tokens"
ORDER = 26
DOCS = ("docs/accurate.md",)
LENGTHS = (228, 400, 1000)
STANDARDIZATIONS = ("tutorial", "punctuation")
QUICK_REVIEWS = 2000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"the first {QUICK_REVIEWS:,} reviews")
    ap.add_argument("--source", default=default_source())
    args = ap.parse_args()
    root = data.fetch(args.source)
    texts = [t for subset in ("train", "validation") for t in data.load(root, subset).texts]
    if args.quick:
        texts = texts[:QUICK_REVIEWS]
    found: dict[str, Any] = {}
    for name in STANDARDIZATIONS:
        counts = np.array([len(standardized(t, name)) for t in texts])
        found[name] = {
            "whole_share": {str(n): float(np.mean(counts <= n)) for n in LENGTHS},
            "median": float(np.median(counts)),
            "p90": float(np.percentile(counts, 90)),
            "p99": float(np.percentile(counts, 99)),
            "max": int(counts.max()),
        }
        print(f"{name}: " + ", ".join(f"{100 * v:.1f} % within {n}"
                                      for n, v in found[name]["whole_share"].items()))
    write("review_lengths" + ("_quick" if args.quick else ""),
          {"quick": args.quick, "n_reviews": len(texts), "lengths": list(LENGTHS),
           "standardizations": found})


def _share(x: float) -> str:
    """A percentage that never rounds a share short of all to 100 % (or one above none to 0)."""
    if 0.999 < x < 1:
        return "> 99.9 %"
    if 0 < x < 0.001:
        return "< 0.1 %"
    return f"{100 * x:.1f} %"


def render(r: dict[str, Any]) -> str:
    lengths = r["lengths"]
    lines = [f"Tokens per review over the {r['n_reviews']:,} labelled training reviews (never "
             "the test split); a review fits a row whole when it has at most that many tokens.",
             "", "| standardization | " + " | ".join(f"whole within {n:,}" for n in lengths)
             + " | median | 90th percentile | 99th percentile | longest |",
             "|---" * (len(lengths) + 5) + "|"]
    for name, s in r["standardizations"].items():
        shares = " | ".join(_share(s["whole_share"][str(n)]) for n in lengths)
        lines.append(f"| {name} | {shares} | {s['median']:,.0f} | {s['p90']:,.0f} | "
                     f"{s['p99']:,.0f} | {s['max']:,} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
