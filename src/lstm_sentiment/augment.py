"""More training rows from the training reviews themselves: sentences, and rule-made variants.

A review's label says how its writer felt about the whole, not what each sentence says, and a
model that only ever read whole reviews learns to weigh many words at once; people mostly type a
sentence or two, and reviews teach the rules of English that turn a sentence's meaning (not,
somewhat, but) weakly, spread thin over long texts. Each kind of row (``TrainConfig.augment``)
is made from the training split only:

- **sentences**: each sentence of three words or more of a training review becomes a row of its
  own with the review's label (a multiple-instance reading: the review's label constrains its
  sentences; many are neutral, so the label is a noisy one);
- **negation**: a training sentence whose one strongly rated word (VADER's valence of 1.5 or
  more either way, see :mod:`lstm_sentiment.lexicon`) agrees with its review's label, and which
  holds no negation, gives two rows: the sentence with the word's polarity as its label, and the
  same sentence negated, by a rule of English, with the opposite label ("The film was dull." /
  "The film was not dull.");
- **degree**: such a sentence with a copula right before its rated word, again with the word
  weakened by one of VADER's diminishers ("somewhat", "kind of", ...), same label: a degree
  word moves how much, not which way;
- **contrast**: two such sentences of opposite labels joined by "but", "although" or "however";
  the label is the second's, the clause a contrast leads to;
- **advice**: a review's advice to its reader ("Don't waste your time.", "I'd recommend it."),
  with the review's label: advice states the verdict, and the negated twins alone teach that "do
  not" before a negative verb reads positive, which advice of this form contradicts;
- **frames**: such a sentence as an opinion held ("I think the plot was dull", same label) and
  the same opinion denied ("I don't think the plot was dull", "I wouldn't call the plot dull",
  "I didn't find the plot dull", the opposite label): people often negate the verb of
  thinking rather than the word, and the twins above only ever put the negation beside it;
- **rated-advice**: the advice above whose "don't" is followed by a word the lexicon rates
  ("Don't waste your time.", "Don't miss it.", not "Don't watch it."), and recommendations:
  the other "don't" advice is mostly negative and pulls against the denied frames' "I don't
  think ..." (the accurate preset takes these with the frames; docs/accurate.md measures both);
- **emoji**: a training sentence with no rated word, then an emoji the lexicon rates strongly
  (see :func:`lstm_sentiment.lexicon.emoji_valences`), labelled by the emoji: reviews hold no
  emoji, and people end a plain sentence with one to say how they felt.

The negation rules: a copula (is, was, seems, ...) before the word, with at most one adverb or
article between, gets "not" after it (sometimes "... at all" when the word ends the sentence),
or becomes its contraction ("wasn't"), or gets "never", or, after a short definite subject,
the negation moves into the subject ("The plot was dull": "Nothing about the plot was dull",
"The actors were great": "None of the actors were great"); a verb after a subject pronoun is
negated with "do" ("I loved it": "I did not love it", "I didn't love it", "I never loved it";
"she likes it": "she doesn't like it"), unless an auxiliary stands before the subject (a
question: "Why did I waste my time?"); each pair's form is chosen by a seeded draw. Sentences
that fit no rule give no pair.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import numpy as np

from .errors import UserError

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
DETERMINERS = {"the", "this", "that", "these", "those", "his", "her", "their", "its", "my",
               "our", "your"}
# a negation may sit in the subject rather than by the verb; singular and plural copulas
QUANTIFIERS = (("Nothing about", "No part of"), ("None of", "Not one of"))
PLURAL = {"are", "were"}
# before a subject they make a question or a clause "do" cannot negate ("Why did I waste ...")
AUXILIARIES = {"do", "does", "did", "will", "would", "can", "could", "should", "shall", "may",
               "might", "must", "have", "has", "had"}
# how advice to the reader opens ("Don't waste ...", "Do not miss ...", "Please don't ...")
ADVICE_OPENERS = (("don't",), ("do", "not"), ("please", "don't"), ("please", "do", "not"))
ADVICE_WORDS = 20  # longer sentences mostly carry more than advice


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
    low = [t.lower() for t in tokens]
    i = _rated(low, valences)
    if i is None:
        return None
    rule, lead, at_all = int(rng.integers(4)), int(rng.integers(2)), bool(rng.random() < 0.3)
    out = _negate_at(tokens, low, i, valences, rule, lead, at_all)
    if out is None:
        return None
    text = _joined(" ".join(out))
    positive = valences[low[i]] > 0
    return int(positive), text, int(not positive)


def _negate_at(tokens: list[str], low: list[str], i: int, valences: dict[str, float],
               rule: int, lead: int = 0, at_all: bool = False) -> list[str] | None:
    """``tokens`` with the rated word at ``i`` negated by the ``rule``-th form that fits; a
    quantifier form takes the ``lead``-th of its leads, and a "not" at the end of a sentence
    may take "at all" after its word."""
    j = _copula(low, i)
    if j is not None:  # "was dull": "was not dull", "wasn't dull", "was never"
        if rule == 3 and _subject(low[:j]):  # "Nothing about the plot was dull."
            return [QUANTIFIERS[low[j] in PLURAL][lead], low[0], *tokens[1:]]
        if rule == 1 and low[j] in CONTRACTIONS:
            out, after = [*tokens[:j], CONTRACTIONS[low[j]], *tokens[j + 1:]], i + 1
        else:
            out, after = [*tokens[: j + 1], "never" if rule == 2 else "not", *tokens[j + 1:]], i + 2
        if at_all and rule != 2 and (after == len(out) or not out[after][0].isalnum()):
            out[after:after] = ["at", "all"]  # "was not dull at all."
        return out
    if i == 0 or low[i - 1] not in SUBJECTS | THIRD_PERSON:
        return None
    if i >= 2 and low[i - 2] in AUXILIARIES:  # "did I waste": no statement to negate
        return None
    rule = rule % 3  # the quantifier form is the copula's alone
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


def _copula(low: list[str], i: int, between: bool = True) -> int | None:
    """The index of the copula before the word at ``i`` ("was dull"), with at most one
    :data:`BETWEEN` word after it ("was very dull") unless ``between`` is False; None if none."""
    j = i - 1
    if between and j >= 0 and low[j] in BETWEEN:
        j -= 1
    return j if j >= 0 and low[j] in COPULAS else None


def _negates(low: list[str]) -> bool:
    """Whether any of the lowercased words ``low`` is a negation."""
    return any(t in NEGATION or t.endswith("n't") for t in low)


def _rated(low: list[str], valences: dict[str, float]) -> int | None:
    """The index of the one strongly rated word of a sentence of 3-30 lowercased words ``low``
    with no negation and no other rated word; None if there is not exactly one."""
    if not MIN_WORDS <= len(low) <= 30 or _negates(low):
        return None

    def opinion(k: int) -> bool:
        if low[k] in OPINION_VERBS:
            return k >= 1 and low[k - 1] in SUBJECTS | THIRD_PERSON
        return low[k] not in AMBIGUOUS

    rated = [k for k, t in enumerate(low) if abs(valences.get(t, 0.0)) >= RATED and opinion(k)]
    if len(rated) != 1 or abs(valences[low[rated[0]]]) < STRONG:
        return None
    return rated[0]


def _subject(np_: list[str]) -> bool:
    """Whether the words before a copula are a short definite subject ("the plot", "this
    film", "it") that a quantifier can take in ("Nothing about the plot was ...")."""
    return np_ == ["it"] or (2 <= len(np_) <= 4 and np_[0] in DETERMINERS
                             and all(t.isalpha() for t in np_))


KINDS = ("sentences", "negation", "degree", "contrast", "frames", "advice", "rated-advice",
         "emoji")
# the diminishers of VADER's BOOSTER_DICT that keep a word's polarity ("barely good" does not)
DIMINISHERS = ("kind of", "kinda", "somewhat", "slightly", "sort of", "a little", "a bit")


def check(kinds: Iterable[str]) -> list[str]:
    """``kinds`` as a list, refusing any that :data:`KINDS` does not name."""
    kinds = list(kinds)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise UserError(f"unknown augmentation {unknown} (choose from {', '.join(KINDS)})")
    return kinds


def rows(kinds: Iterable[str], texts: list[str], labels: list[int],
         valences: dict[str, float], seed: int,
         emoji: dict[str, float] | None = None) -> tuple[list[tuple[str, int]], dict[str, int]]:
    """The rows of each of ``kinds`` (see :data:`KINDS`), and how many each made; ``emoji``
    (emoji -> valence) is what the emoji rows draw from."""
    kinds = check(kinds)
    rng = np.random.default_rng(seed)
    made: dict[str, list[tuple[str, int]]] = {kind: [] for kind in kinds}
    if "sentences" in made:
        made["sentences"] += review_sentences(texts, labels)
    rated: list[tuple[str, int]] = []  # sentences whose rated word agrees with the review
    plain: list[str] = []  # sentences with no rated word, for the emoji rows
    for sentence, label in review_sentences(texts, labels):
        if "advice" in made and _advice(sentence):
            made["advice"].append((sentence, label))
        if "rated-advice" in made and _advice(sentence, valences):
            made["rated-advice"].append((sentence, label))
        if "emoji" in made and _plain(sentence, valences):
            plain.append(sentence)
        found = negated(sentence, valences, rng)
        if found is None or found[0] != label:
            continue
        rated.append((sentence, label))
        if "negation" in made:
            made["negation"] += [(sentence, label), (found[1], found[2])]
        if "degree" in made:
            weaker = _weakened(sentence, valences, rng)
            if weaker is not None:
                made["degree"].append((weaker, label))
        if "frames" in made:
            made["frames"] += framed(sentence, label, valences, rng)
    if "contrast" in made:
        made["contrast"] += _contrasts(rated, rng)
    if "emoji" in made:
        made["emoji"] += _with_emoji(plain, len(rated) // 2, emoji or {}, rng)
    return ([row for kind in kinds for row in made[kind]],
            {kind: len(found) for kind, found in made.items()})


# how an opinion is held and denied, (present, past) for each form; in each, the opinion held
# and two wordings of it denied. "{S}" is the subject, "{B}" its copula and what follows it,
# "{W}" what follows the copula
FRAMES = ((("I think {S} {B}", "I don't think {S} {B}", "I do not think {S} {B}"),
           ("I think {S} {B}", "I didn't think {S} {B}", "I did not think {S} {B}")),
          (("I would say {S} {B}", "I wouldn't say {S} {B}", "I would not say {S} {B}"),
           ("I would say {S} {B}", "I wouldn't say {S} {B}", "I would not say {S} {B}")),
          (("I would call {S} {W}", "I wouldn't call {S} {W}", "I would not call {S} {W}"),
           ("I would call {S} {W}", "I wouldn't call {S} {W}", "I would not call {S} {W}")),
          (("I find {S} {W}", "I don't find {S} {W}", "I do not find {S} {W}"),
           ("I found {S} {W}", "I didn't find {S} {W}", "I did not find {S} {W}")))
BE = {"is", "are", "was", "were"}  # the copulas "call" and "find" frames can drop
PAST = {"was", "were", "seemed", "looked", "felt", "sounded", "remained", "became"}


def framed(sentence: str, label: int, valences: dict[str, float],
           rng: np.random.Generator) -> list[tuple[str, int]]:
    """A rated sentence (see :func:`negated`; ``label`` is its rated word's) of the form short
    definite subject, copula, rated word, as an opinion held (same label) and the same opinion
    denied (the other label); no rows for any other form."""
    tokens = _WORD.findall(sentence)
    low = [t.lower() for t in tokens]
    i = _rated(low, valences)
    if i is None:
        return []
    j = _copula(low, i)
    if j is None or j < 1 or not _subject(low[:j]):
        return []
    form, wording = int(rng.integers(len(FRAMES))), int(rng.integers(2))
    if form >= 2 and low[j] not in BE:  # "I would call the plot dull" needs a form of "be"
        form -= 2
    held, *denied = FRAMES[form][low[j] in PAST]
    parts = {"S": " ".join(low[:1] + tokens[1:j]), "B": " ".join(tokens[j:]),
             "W": " ".join(tokens[j + 1:])}
    return [(_joined(held.format(**parts)), label),
            (_joined(denied[wording].format(**parts)), 1 - label)]


def _joined(text: str) -> str:
    """``text`` with no space before its marks, as tokens joined by spaces leave it."""
    return re.sub(r" ([.,!?;:)])", r"\1", text)


def _weakened(sentence: str, valences: dict[str, float],
              rng: np.random.Generator) -> str | None:
    """The sentence with a diminisher before its rated word, when a copula stands right before
    that word ("was dull": "was somewhat dull")."""
    tokens = _WORD.findall(sentence)
    low = [t.lower() for t in tokens]
    for i, t in enumerate(low):
        if abs(valences.get(t, 0.0)) >= STRONG and _copula(low, i, between=False) is not None:
            word = DIMINISHERS[int(rng.integers(len(DIMINISHERS)))]
            return _joined(" ".join([*tokens[:i], word, *tokens[i:]]))
    return None


def _contrasts(rated: list[tuple[str, int]],
               rng: np.random.Generator) -> list[tuple[str, int]]:
    """One contrast per rated sentence: it, then a sentence of the other label after "but",
    "although" or "however"; the label is the second sentence's."""
    by_label = {y: [s for s, label in rated if label == y] for y in (0, 1)}
    if not by_label[0] or not by_label[1]:
        return []
    out = []
    for first, label in rated:
        others = by_label[1 - label]
        second = others[int(rng.integers(len(others)))]
        a, b = first.rstrip(" .!?;,"), second.rstrip(" .!?;,")
        b_low = b[0].lower() + b[1:] if b[:2] != "I " else b
        form = int(rng.integers(3))
        text = (f"{a}, but {b_low}." if form == 0 else
                f"Although {a[0].lower() + a[1:] if a[:2] != 'I ' else a}, {b_low}." if form == 1
                else f"{a}. However, {b_low}.")
        out.append((text, 1 - label))
    return out


def _advice(sentence: str, valences: dict[str, float] | None = None) -> bool:
    """Whether ``sentence`` is advice to the reader: it opens as an imperative "don't" does, or
    recommends; and is short enough to be about little else. With ``valences``, a "don't" must
    be followed by a word they rate ("Don't waste", "Don't miss", not "Don't watch")."""
    low = [t.lower() for t in _WORD.findall(sentence)]
    if not MIN_WORDS <= len(low) <= ADVICE_WORDS:
        return False
    if any(t.startswith("recommend") for t in low):
        return True
    opener = next((o for o in ADVICE_OPENERS if tuple(low[:len(o)]) == o), None)
    if opener is None:
        return False
    return valences is None or (len(low) > len(opener) and low[len(opener)] in valences)


def _plain(sentence: str, valences: dict[str, float]) -> bool:
    """A short sentence with no rated word and no negation: it says nothing either way."""
    low = [t.lower() for t in _WORD.findall(sentence)]
    return (MIN_WORDS <= len(low) <= 15 and not _negates(low)
            and not any(abs(valences.get(t, 0.0)) >= RATED for t in low))


def _with_emoji(plain: list[str], count: int, emoji: dict[str, float],
                rng: np.random.Generator) -> list[tuple[str, int]]:
    """``count`` plain sentences, each ending in an emoji rated :data:`STRONG` or more either
    way (half positive, half negative), labelled by the emoji."""
    pools = [[e for e, v in emoji.items() if v <= -STRONG], [e for e, v in emoji.items()
                                                              if v >= STRONG]]
    if not plain or not pools[0] or not pools[1]:
        return []
    out = []
    for k in range(count):
        label = k % 2
        pool = pools[label]
        sentence = plain[int(rng.integers(len(plain)))].rstrip(" .!?;,")
        marks = pool[int(rng.integers(len(pool)))] * int(rng.integers(1, 3))
        out.append((f"{sentence} {marks}", label))
    return out
