"""A behavioural test suite for two-label sentiment models, in the manner of CheckList
(Ribeiro et al., "Beyond Accuracy: Behavioral Testing of NLP Models with CheckList", ACL 2020).

The suite is data: templates and word lists in ``checks/*.json`` (shared lists in
``checks/lexicon.json``, one file per capability), expanded here into cases. Expansion is
deterministic: a test whose templates and fillers give more combinations than its ``max`` keeps a
sample drawn with a fixed seed (its name and half). A case is one of three types:

- **MFT** (minimum functionality test): one text and its expected label. It passes when the
  scorer's p(positive) is above 0.5 for an expected ``positive``, below 0.5 for an expected
  ``negative``. Exactly 0.5 is no verdict (a lexicon such as VADER scores a text with no
  sentiment word so) and passes neither.
- **INV** (invariance): a text and variants of it (another name or number, a typo, other
  punctuation or case). It passes when every variant gets the label of the first text, and that
  is a label (not 0.5); whether it is the right one is the MFTs' business.
- **DIR** (directional): a text and the same text with a clearly positive (or negative) sentence
  appended. It passes when p(positive) moves the expected way: strictly up (down), or, where the
  first text is already saturated (p >= 0.99 for up, p <= 0.01 for down), when the second one
  stays saturated too: there is no room left to move.

A text the scorer gives no label (NaN; for a model, a text with no word it knows) fails its case.

The data. A capability file holds ``capability``, ``type``, ``description``, its own ``lists`` and
``tests``; a test has a ``name``, ``expect`` (positive/negative, same, up/down), ``max`` and its
``dev`` and ``test`` templates. A template names word lists in braces: ``{thing}``; ``{thing#2}``
is a second, different word of the same list; ``|cap``, ``|upper``, ``|lower`` and ``|a`` (a/an
before it) change the word. An INV test either ``vary``s one list (its first ``variants`` words)
or names a ``perturb``ation (typos, punctuation, case); a DIR test names the list of sentences to
``append``.

Halves. Every test's templates and every word list are split into a ``dev`` and a ``test`` half; a
case takes its template and all its fillers from one half, so no template and no filler of the
test half appears in a dev case. Tune and choose on ``dev`` (the default everywhere); ``test``
is for reporting only and must be asked for by name (``half="test"`` or ``"all"``).

How it was written: the templates and word lists were written for the capabilities alone and
committed before any model was run on them; they are not to be adjusted afterwards to make a
model look better or worse. Add new tests as new templates in both halves instead.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UserError

HALVES = ("dev", "test")
TYPES = ("MFT", "INV", "DIR")
SATURATED = 0.01  # DIR: p within this of 0 or 1 has no room left to move
Scorer = Callable[[list[str]], np.ndarray]  # texts -> p(positive) per text, NaN for no label

_SLOT = re.compile(r"\{([a-z_]+)(#\d+)?((?:\|[a-z]+)*)\}")


@dataclass(frozen=True)
class Case:
    """One check: its texts (MFT one; INV the first and its variants; DIR before and after)."""

    capability: str
    test: str
    type: str
    half: str
    texts: tuple[str, ...]
    expected: str  # MFT: positive/negative; INV: same; DIR: up/down
    template: str
    fillers: tuple[str, ...]


@dataclass(frozen=True)
class Capability:
    name: str
    type: str
    description: str
    tests: tuple[dict[str, Any], ...]


def _halves(half: str) -> tuple[str, ...]:
    if half == "all":
        return HALVES
    if half not in HALVES:
        raise UserError(f"half must be dev, test or all, not {half!r}")
    return (half,)


def _article(word: str) -> str:
    w = word.lower()
    vowel = w[:1] in "aeiou" and not w.startswith(("one", "use", "uni", "eu"))
    return ("an " if vowel or w.startswith(("hour", "honest")) else "a ") + word


_FILTERS: dict[str, Callable[[str], str]] = {
    "cap": lambda s: s[:1].upper() + s[1:], "upper": str.upper, "lower": str.lower,
    "a": _article}


class Suite:
    """The capabilities and their word lists; :meth:`cases` expands them."""

    def __init__(self, capabilities: list[Capability], lists: dict[str, dict[str, list[str]]]):
        self.capabilities = capabilities
        self.lists = lists

    def cases(self, half: str = "dev") -> list[Case]:
        """Every case of ``half`` (``dev``, ``test`` or ``all``), in a fixed order."""
        return [case for h in _halves(half) for cap in self.capabilities for test in cap.tests
                for case in self._expand(cap, test, h)]

    def templates(self, half: str = "dev") -> set[str]:
        return {t for h in _halves(half) for cap in self.capabilities for test in cap.tests
                for t in test[h]}

    def fillers(self, half: str = "dev") -> set[str]:
        """Every word or phrase of ``half``'s word lists (what its templates are filled with)."""
        return {w for h in _halves(half) for halves in self.lists.values() for w in halves[h]}

    def _expand(self, cap: Capability, test: dict[str, Any], half: str) -> list[Case]:
        vary = test.get("vary")
        combos = []
        for template in test[half]:
            slots = list(dict.fromkeys(m.group(1) + (m.group(2) or "")
                                       for m in _SLOT.finditer(template)))
            fixed = [s for s in slots if s.split("#")[0] != vary]
            if "append" in test:  # DIR: the appended sentence is one more slot
                fixed.append(test["append"])
            for values in product(*(self._list(s, half) for s in fixed)):
                if _distinct(fixed, values):
                    combos.append((template, dict(zip(fixed, values, strict=True))))
        limit = test.get("max", len(combos))
        if len(combos) > limit:  # a fixed-seed sample, so expansion never changes between runs
            keep = sorted(random.Random(f"{test['name']}/{half}").sample(range(len(combos)),
                                                                         limit))
            combos = [combos[i] for i in keep]
        cases = []
        for template, values in combos:
            texts, used = self._texts(cap.type, test, template, values, half)
            cases.append(Case(cap.name, test["name"], cap.type, half, texts,
                              test["expect"], template, used))
        return cases

    def _texts(self, kind: str, test: dict[str, Any], template: str, values: dict[str, str],
               half: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        used = tuple(values.values())
        if kind == "MFT":
            return (_render(template, values),), used
        if kind == "DIR":
            base = _render(template, values)
            return (base, f"{base} {values[test['append']]}"), used
        if test.get("vary"):
            options = self._list(test["vary"], half)[:test.get("variants", 4)]
            texts = tuple(_render(template, {**values, test["vary"]: v}) for v in options)
            return texts, (*used, *options)
        base = _render(template, values)
        return (base, *_perturb(base, test["perturb"])), used

    def _list(self, slot: str, half: str) -> list[str]:
        name = slot.split("#")[0]
        if name not in self.lists:
            raise UserError(f"checklist data: no word list named {name!r}")
        return self.lists[name][half]


def _distinct(slots: list[str], values: tuple[str, ...]) -> bool:
    """Two slots of one list (``{adj}``, ``{adj#2}``) never take the same word."""
    seen: dict[str, set[str]] = {}
    for slot, value in zip(slots, values, strict=True):
        words = seen.setdefault(slot.split("#")[0], set())
        if value in words:
            return False
        words.add(value)
    return True


def _render(template: str, values: dict[str, str]) -> str:
    def fill(m: re.Match[str]) -> str:
        text = values[m.group(1) + (m.group(2) or "")]
        for name in filter(None, m.group(3).split("|")):
            text = _FILTERS[name](text)
        return text

    return _SLOT.sub(fill, template)


def _perturb(text: str, how: str) -> list[str]:
    """Variants of ``text`` that must keep its label (deterministic for a given text)."""
    if how == "case":
        return [text.lower(), text.upper()]
    if how == "punctuation":
        bare = text.rstrip(".!?")
        return [bare.replace(",", ""), bare + "!!", bare + ("." if text.endswith("!") else "!")]
    if how == "typos":  # two different typos: neighbouring (unlike) letters swapped in a word
        spots = [(i, j) for i, w in enumerate(text.split(" ")) if len(w) >= 4
                 for j in range(1, len(w) - 1)
                 if w[j].isalpha() and w[j + 1].isalpha() and w[j] != w[j + 1]]
        out = []
        for i, j in random.Random(text).sample(spots, 2):
            words = text.split(" ")
            w = words[i]
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
            out.append(" ".join(words))
        return out
    raise UserError(f"checklist data: unknown perturbation {how!r}")


def load_suite(folder: str | Path | None = None) -> Suite:
    """The suite in ``folder`` (default: the packaged ``checks/``)."""
    root = Path(folder) if folder else Path(str(resources.files(__package__) / "checks"))
    lists: dict[str, dict[str, list[str]]] = {}
    capabilities = []
    for path in sorted(root.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for name, halves in doc.get("lists", {}).items():
            if name in lists:
                raise UserError(f"checklist data: word list {name!r} is defined twice")
            lists[name] = halves
        if "capability" in doc:
            capabilities.append(Capability(doc["capability"], doc["type"], doc["description"],
                                           tuple(doc["tests"])))
    return Suite(capabilities, lists)


# --------------------------------------------------------------------------------------------
# Running a scorer


def model_scorer(model: Any) -> Scorer:
    """p(positive) from a two-class :class:`SentimentModel` labelled negative/positive; NaN for
    a text the model gives no label (no word it knows)."""
    if sorted(model.labels) != ["negative", "positive"]:
        raise UserError(f"the checklist needs a two-class model labelled negative/positive; "
                        f"this one has labels {model.labels}")
    column = model.labels.index("positive")

    def score(texts: list[str]) -> np.ndarray:
        reading = model.read(texts)
        p = reading.probabilities[:, column].astype(np.float64)
        p[[r is not None for r in reading.reasons]] = np.nan
        return p

    return score


def _label(p: float) -> str | None:
    return "positive" if p > 0.5 else "negative" if p < 0.5 else None


def passes(case: Case, p: Sequence[float]) -> bool:
    """Whether a case passes, given p(positive) for each of its texts (see the module doc)."""
    if any(math.isnan(x) for x in p):
        return False
    if case.type == "MFT":
        return _label(p[0]) == case.expected
    if case.type == "INV":
        return _label(p[0]) is not None and all(_label(x) == _label(p[0]) for x in p[1:])
    before, after = p
    if case.expected == "up":
        return after > before or (before >= 1 - SATURATED and after >= 1 - SATURATED)
    return after < before or (before <= SATURATED and after <= SATURATED)


@dataclass
class Report:
    """Pass rates of one scorer on one half, per capability, per test type and overall."""

    half: str
    capabilities: dict[str, dict[str, Any]] = field(default_factory=dict)
    types: dict[str, dict[str, Any]] = field(default_factory=dict)
    n: int = 0
    passed: int = 0
    ece: float | None = None  # calibration over the MFT cases (15 bins); None: no scores

    @property
    def rate(self) -> float:
        return self.passed / self.n if self.n else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"half": self.half, "n": self.n, "passed": self.passed, "pass_rate": self.rate,
                "ece": self.ece,
                "types": self.types, "capabilities": self.capabilities}


def run_suite(scorer: Scorer, half: str = "dev", *, suite: Suite | None = None,
              failures: int = 3) -> Report:
    """Score every case of ``half`` with ``scorer`` and count what passes; keep up to
    ``failures`` failing examples per capability."""
    suite = suite or load_suite()
    cases = suite.cases(half)
    texts = list(dict.fromkeys(t for c in cases for t in c.texts))
    scores = np.asarray(scorer(texts), dtype=np.float64).reshape(-1)
    if scores.shape[0] != len(texts):
        raise UserError(f"the scorer returned {scores.shape[0]} scores for {len(texts)} texts")
    p_of = dict(zip(texts, scores.tolist(), strict=True))
    report = Report(half)
    for cap in suite.capabilities:
        report.capabilities[cap.name] = {"type": cap.type, "description": cap.description,
                                         "n": 0, "passed": 0, "tests": {}, "failures": []}
    for case in cases:
        p = [p_of[t] for t in case.texts]
        ok = passes(case, p)
        row = report.capabilities[case.capability]
        test = row["tests"].setdefault(case.test, {"n": 0, "passed": 0})
        kind = report.types.setdefault(case.type, {"n": 0, "passed": 0})
        for counts in (row, test, kind):
            counts["n"] += 1
            counts["passed"] += ok
        report.n += 1
        report.passed += ok
        if not ok and len(row["failures"]) < failures:
            row["failures"].append({"test": case.test, "expected": case.expected,
                                    "texts": list(case.texts),
                                    "p_positive": [None if math.isnan(x) else round(x, 4)
                                                   for x in p]})
    for counts in (*report.capabilities.values(), *report.types.values()):
        counts["pass_rate"] = counts["passed"] / counts["n"] if counts["n"] else 0.0
        for test in counts.get("tests", {}).values():
            test["pass_rate"] = test["passed"] / test["n"]
    report.ece = _ece([c for c in cases if c.type == "MFT"], p_of)
    return report


def _ece(cases: list[Case], p_of: dict[str, float]) -> float | None:
    """Expected calibration error of p(positive) on the MFT cases with a score."""
    from .evaluate import expected_calibration_error

    scored = [(p_of[c.texts[0]], c.expected == "positive") for c in cases
              if not math.isnan(p_of[c.texts[0]])]
    if not scored:
        return None
    p = np.array([x for x, _ in scored])
    return expected_calibration_error(np.array([int(y) for _, y in scored]),
                                      np.stack([1 - p, p], axis=1))


def check_model(path: str, half: str = "dev", failures: int = 3) -> Report:
    """:func:`run_suite` on the model folder ``path`` (or ``bundled``)."""
    from .predict import SentimentModel

    _halves(half)  # a bad half fails before the model loads
    return run_suite(model_scorer(SentimentModel.load(path)), half, failures=failures)


def format_report(report: Report, failures: int = 0) -> str:
    """A plain-text table of pass rates, and up to ``failures`` failing examples per
    capability."""
    lines = [f"checklist, {report.half} half: {report.passed}/{report.n} cases passed "
             f"({report.rate:.1%})", "",
             f"{'capability':<22} {'type':<4} {'cases':>6} {'passed':>7} {'rate':>7}"]
    for name, row in report.capabilities.items():
        lines.append(f"{name:<22} {row['type']:<4} {row['n']:>6} {row['passed']:>7} "
                     f"{row['pass_rate']:>7.1%}")
    lines.append("")
    for kind in TYPES:
        if kind in report.types:
            row = report.types[kind]
            lines.append(f"{'all ' + kind:<27} {row['n']:>6} {row['passed']:>7} "
                         f"{row['pass_rate']:>7.1%}")
    lines.append(f"{'overall':<27} {report.n:>6} {report.passed:>7} {report.rate:>7.1%}")
    if report.ece is not None:
        lines.append(f"calibration error (ECE, 15 bins) over the MFT cases: {report.ece:.3f}")
    if failures:
        for name, row in report.capabilities.items():
            if row["failures"][:failures]:
                lines += ["", f"{name}: failing examples"]
            for f in row["failures"][:failures]:
                ps = ", ".join("none" if x is None else f"{x:.2f}" for x in f["p_positive"])
                lines.append(f"  expected {f['expected']}, p(positive) {ps}: "
                             + " | ".join(f["texts"]))
    return "\n".join(lines)


def check_image_name(out: Path) -> str:
    """The image format ``out``'s name asks for; a UserError for one matplotlib is not asked
    to write here."""
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in ("png", "svg", "pdf"):
        raise UserError(f"cannot write {out}: choose a .png, .svg or .pdf file name")
    return fmt


def plot_report(report: Report, out: Path, title: str = "") -> None:
    """A horizontal bar chart of pass rates per capability (one colour per test type)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from .fileio import atomic_write_bytes

    fmt = check_image_name(out)
    rows = list(report.capabilities.items())[::-1]  # first capability on top
    colours = {"MFT": "#2563eb", "INV": "#d97706", "DIR": "#059669"}
    fig, ax = plt.subplots(figsize=(8, 0.38 * len(rows) + 1.8), constrained_layout=True)
    rates = [100 * r["pass_rate"] for _, r in rows]
    ax.barh(range(len(rows)), rates, color=[colours[r["type"]] for _, r in rows])
    for i, (_, r) in enumerate(rows):  # the figure inside a long bar, beside a short one
        inside = rates[i] > 80
        ax.text(rates[i] - 1 if inside else rates[i] + 1, i, f"{rates[i]:.0f}% of {r['n']}",
                va="center", ha="right" if inside else "left", fontsize=8,
                color="white" if inside else "black")
    ax.set_yticks(range(len(rows)), [f"{name} ({r['type']})" for name, r in rows])
    ax.set_xlim(0, 100)
    ax.set_xlabel("cases passed (%)")
    ax.axvline(100 * report.rate, color="grey", linestyle="--", linewidth=1)
    handles = [Patch(color=c, label=k) for k, c in colours.items() if k in report.types]
    handles.append(Line2D([], [], color="grey", linestyle="--", label="overall"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.09),
              ncol=len(handles), fontsize=8, frameon=False)
    head = title or f"checklist, {report.half} half"
    ax.set_title(f"{head}: {report.rate:.1%} of {report.n} cases passed", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=120)
    plt.close(fig)
    try:
        atomic_write_bytes(out, buf.getvalue())
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
