"""More training rows from the training reviews themselves: their sentences, and negated twins.

A review's label says how its writer felt about the whole, not what each sentence says, and a
model that only ever read whole reviews learns to weigh many words at once; people mostly type a
sentence or two. Two augmentations, both made from the training split only:

- **sentences**: each sentence of three words or more of a training review becomes a row of its
  own with the review's label (a multiple-instance reading: the review's label constrains its
  sentences; many are neutral, so the label is a noisy one);
- **negation pairs**: a training sentence whose one strongly rated word (VADER's valence of 1.5 or
  more either way, see :mod:`lstm_sentiment.lexicon`) agrees with its review's label, and which
  holds no negation, gives two rows: the sentence with the word's polarity as its label, and the
  same sentence negated, by a rule of English, with the opposite label ("The film was dull." /
  "The film was not dull."). Reviews teach negation weakly, since "not bad" and "not good" are
  rare and spread thin; the pairs teach it as a contrast.

The negation rules: a copula (is, was, seems, ...) before the word, with at most one adverb or
article between, gets "not" after it, or becomes its contraction ("wasn't"), or gets "never";
a verb after a subject pronoun is negated with "do" ("I loved it": "I did not love it", "I
didn't love it", "I never loved it"; "she likes it": "she doesn't like it"); each pair's form is
chosen by a seeded draw. Sentences that fit no rule give no pair.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import numpy as np

_SENTENCE = re.compile(r"(?<=[.!?])\s+|<br\s*/?>")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*|[^\sA-Za-z]")
MIN_WORDS = 3
STRONG = 1.5  # |valence| in VADER's [-4, 4] that makes a word the sentence's one rated word
RATED = 1.0  # any other word rated this strongly disqualifies the sentence
NEGATION = {"not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "without",
            "hardly", "barely", "cannot", "nowhere"}
# rated in VADER but too often not an opinion ("it was like ...", "pretty big")
AMBIGUOUS = {"like", "likes", "liked", "pretty", "well", "kind", "sure", "please", "yes", "no",
             "ok", "okay", "fine", "fun", "true", "free", "top", "lol", "haha"}
COPULAS = {"is", "was", "are", "were", "be", "been", "being", "seems", "seemed", "looks",
           "looked", "felt", "feels", "sounds", "sounded", "remains", "remained", "became"}
BETWEEN = {"very", "really", "so", "quite", "too", "truly", "rather", "extremely", "a", "an",
           "the", "such", "just", "simply", "totally", "completely", "utterly"}
CONTRACTIONS = {"is": "isn't", "was": "wasn't", "are": "aren't", "were": "weren't"}
SUBJECTS = {"i", "we", "they", "you"}
THIRD_PERSON = {"he", "she"}
OPINION_VERBS = {"like", "likes", "liked"}  # no opinion after a copula, one after a subject


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` that have at least :data:`MIN_WORDS` words."""
    return [s.strip() for s in _SENTENCE.split(text)
            if s and len(s.split()) >= MIN_WORDS]


def review_sentences(texts: Iterable[str], labels: Iterable[int]) -> Iterator[tuple[str, int]]:
    """Each review's sentences, each with the review's label."""
    for text, label in zip(texts, labels, strict=True):
        for sentence in sentences(text):
            yield sentence, label


def negated(sentence: str, valences: dict[str, float],
            rng: np.random.Generator) -> tuple[int, str, int] | None:
    """``(label, negated sentence, its label)`` for a sentence with one strongly rated word and
    no negation that a rule can negate; None otherwise. Labels: 1 positive, 0 negative."""
    tokens = _WORD.findall(sentence)
    if not MIN_WORDS <= len(tokens) <= 30:
        return None
    low = [t.lower() for t in tokens]
    if any(t in NEGATION or t.endswith("n't") for t in low):
        return None

    def opinion(k: int) -> bool:
        if low[k] in OPINION_VERBS:
            return k >= 1 and low[k - 1] in SUBJECTS | THIRD_PERSON
        return low[k] not in AMBIGUOUS

    rated = [k for k, t in enumerate(low) if abs(valences.get(t, 0.0)) >= RATED and opinion(k)]
    if len(rated) != 1 or abs(valences[low[rated[0]]]) < STRONG:
        return None
    i = rated[0]
    out = _negate_at(tokens, low, i, valences, int(rng.integers(3)))
    if out is None:
        return None
    text = re.sub(r" ([.,!?;:)])", r"\1", " ".join(out))
    positive = valences[low[i]] > 0
    return int(positive), text, int(not positive)


def _negate_at(tokens: list[str], low: list[str], i: int, valences: dict[str, float],
               rule: int) -> list[str] | None:
    """``tokens`` with the rated word at ``i`` negated by the ``rule``-th form that fits."""
    j = i - 1
    if j >= 0 and low[j] in BETWEEN:
        j -= 1
    if j >= 0 and low[j] in COPULAS:  # "was dull": "was not dull", "wasn't dull", "was never"
        if rule == 1 and low[j] in CONTRACTIONS:
            return [*tokens[:j], CONTRACTIONS[low[j]], *tokens[j + 1:]]
        return [*tokens[: j + 1], "never" if rule == 2 else "not", *tokens[j + 1:]]
    if i == 0 or low[i - 1] not in SUBJECTS | THIRD_PERSON:
        return None
    word, head, tail = low[i], tokens[:i], tokens[i + 1:]
    if word.endswith("ed"):  # "I loved it": "I did not love it", "I didn't love it", "never"
        base = next((b for b in (word[:-1], word[:-2]) if b in valences), None)
        if base is None or rule == 2:
            return [*head, "never", tokens[i], *tail]
        return [*head, *(["did", "not"] if rule == 0 else ["didn't"]), base, *tail]
    if low[i - 1] in THIRD_PERSON:  # "she loves it": "she does not love it", "doesn't"
        base = word[:-1] if word.endswith("s") and word[:-1] in valences else None
        if base is None:
            return None
        return [*head, *(["does", "not"] if rule == 0 else ["doesn't"]), base, *tail]
    return [*head, *(["do", "not"] if rule == 0 else ["don't"]), tokens[i], *tail]


def negation_pairs(texts: Iterable[str], labels: Iterable[int], valences: dict[str, float],
                   seed: int) -> Iterator[tuple[str, int]]:
    """For each sentence of the reviews that :func:`negated` can negate and whose rated word
    agrees with its review's label: the sentence and its negated twin, each with its label."""
    rng = np.random.default_rng(seed)
    for sentence, label in review_sentences(texts, labels):
        found = negated(sentence, valences, rng)
        if found is not None and found[0] == label:
            yield sentence, found[0]
            yield found[1], found[2]
