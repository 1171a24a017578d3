"""augment.py: review sentences and negated twins, and a run that trains on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lstm_sentiment import augment
from lstm_sentiment import config as cfg
from lstm_sentiment.pipeline import run

VALENCES = {"dull": -1.7, "great": 3.1, "loved": 2.9, "good": 1.9, "like": 2.0, "nice": 1.8,
            "liked": 1.8, "love": 3.2, "loves": 2.7, "hate": -2.7}


def test_sentences_split_on_ends_and_breaks_and_drop_short_ones() -> None:
    text = "A great film. Really!<br /><br />The cast was good and the plot moved. Yes."
    assert augment.sentences(text) == ["A great film.", "The cast was good and the plot moved."]
    pairs = list(augment.review_sentences([text, "Dull as can be."], [1, 0]))
    assert pairs == [("A great film.", 1), ("The cast was good and the plot moved.", 1),
                     ("Dull as can be.", 0)]


@pytest.mark.parametrize(("sentence", "negated", "labels"), [
    ("The plot was dull.", {"The plot was not dull.", "The plot wasn't dull.",
                            "The plot was never dull.", "The plot was not dull at all.",
                            "The plot wasn't dull at all.", "Nothing about the plot was dull.",
                            "No part of the plot was dull."}, (0, 1)),
    ("The ending was very good!", {"The ending was not very good!",
                                   "The ending wasn't very good!",
                                   "The ending was never very good!",
                                   "The ending was not very good at all!",
                                   "The ending wasn't very good at all!",
                                   "Nothing about the ending was very good!",
                                   "No part of the ending was very good!"}, (1, 0)),
    ("The actors were great in it.", {"The actors were not great in it.",
                                      "The actors weren't great in it.",
                                      "The actors were never great in it.",
                                      "None of the actors were great in it.",
                                      "Not one of the actors were great in it."}, (1, 0)),
    ("It was great.", {"It was not great.", "It wasn't great.", "It was never great.",
                       "It was not great at all.", "It wasn't great at all.",
                       "Nothing about it was great.", "No part of it was great."}, (1, 0)),
    # a long subject is no quantifier's: only the verb is negated
    ("The man in the back row was dull.", {"The man in the back row was not dull.",
                                           "The man in the back row wasn't dull.",
                                           "The man in the back row was never dull.",
                                           "The man in the back row was not dull at all.",
                                           "The man in the back row wasn't dull at all."},
     (0, 1)),
    ("I loved every minute of it.", {"I did not love every minute of it.",
                                     "I didn't love every minute of it.",
                                     "I never loved every minute of it."}, (1, 0)),
    ("We liked the film.", {"We did not like the film.", "We didn't like the film.",
                            "We never liked the film."}, (1, 0)),
    ("She loves the ending.", {"She does not love the ending.",
                               "She doesn't love the ending."}, (1, 0)),
    ("They hate sequels.", {"They do not hate sequels.", "They don't hate sequels."}, (0, 1)),
])
def test_negation_rules(sentence: str, negated: set[str], labels: tuple[int, int]) -> None:
    seen = set()
    for seed in range(80):
        found = augment.negated(sentence, VALENCES, np.random.default_rng(seed))
        assert found is not None
        assert (found[0], found[2]) == labels
        seen.add(found[1])
    assert seen == negated


@pytest.mark.parametrize("sentence", [
    "The plot was not dull.",  # already negated
    "The plot was dull but the cast was great.",  # two rated words
    "It was like a dream.",  # a rated word too often no opinion (but "we liked it" is one)
    "Dull, dull, dull.",  # no rule fits
    "ok",  # too short
    "Why did I hate it?",  # an auxiliary before the subject: a question, no statement
    "Will they hate sequels?",
])
def test_sentences_no_rule_may_negate_give_no_pair(sentence: str) -> None:
    assert augment.negated(sentence, VALENCES, np.random.default_rng(0)) is None


def test_pairs_only_where_the_word_agrees_with_the_review() -> None:
    texts = ["The plot was dull. We left early.", "The plot was dull. I loved it anyway."]
    made, counts = augment.rows(["negation"], texts, [0, 1], VALENCES, seed=3)
    # review 1 (negative): "dull" agrees; review 2 (positive): "dull" disagrees, "loved" agrees
    assert [y for _, y in made] == [0, 1, 1, 0] and counts == {"negation": 4}
    assert made[0][0] == "The plot was dull." and made[2][0] == "I loved it anyway."


def test_degree_and_contrast_rows() -> None:
    texts = ["The plot was dull. We left early.", "The ending was great, we agreed."]
    made, counts = augment.rows(["degree", "contrast"], texts, [0, 1], VALENCES, seed=1)
    assert counts == {"degree": 2, "contrast": 2}
    degree, contrast = made[:2], made[2:]
    assert [y for _, y in degree] == [0, 1]
    assert any(f"was {d} dull." in degree[0][0] for d in augment.DIMINISHERS)
    # the label is the second clause's, and each contrast joins opposite sentences
    by_text = dict(contrast)
    for text, label in by_text.items():
        assert (label == 1) == text.rstrip(".").endswith("we agreed")
        assert any(w in text for w in (", but ", "Although ", ". However, "))


@pytest.mark.parametrize(("sentence", "label", "held", "denied"), [
    ("The plot was dull.", 0,
     {"I think the plot was dull.", "I would say the plot was dull.",
      "I would call the plot dull.", "I found the plot dull."},
     {"I didn't think the plot was dull.", "I did not think the plot was dull.",
      "I wouldn't say the plot was dull.", "I would not say the plot was dull.",
      "I wouldn't call the plot dull.", "I would not call the plot dull.",
      "I didn't find the plot dull.", "I did not find the plot dull."}),
    ("This film is really great!", 1,
     {"I think this film is really great!", "I would say this film is really great!",
      "I would call this film really great!", "I find this film really great!"},
     {"I don't think this film is really great!", "I do not think this film is really great!",
      "I wouldn't say this film is really great!", "I would not say this film is really great!",
      "I wouldn't call this film really great!", "I would not call this film really great!",
      "I don't find this film really great!", "I do not find this film really great!"}),
    # "seemed" is no form of "be": only the frames that keep the copula
    ("It seemed great.", 1, {"I think it seemed great.", "I would say it seemed great."},
     {"I didn't think it seemed great.", "I did not think it seemed great.",
      "I wouldn't say it seemed great.", "I would not say it seemed great."}),
])
def test_frame_rows_hold_and_deny_an_opinion(sentence: str, label: int, held: set[str],
                                             denied: set[str]) -> None:
    seen_held, seen_denied = set(), set()
    for seed in range(80):
        (a, y_a), (b, y_b) = augment.framed(sentence, label, VALENCES,
                                            np.random.default_rng(seed))
        assert (y_a, y_b) == (label, 1 - label)
        seen_held.add(a)
        seen_denied.add(b)
    assert (seen_held, seen_denied) == (held, denied)


@pytest.mark.parametrize("sentence", [
    "The man in the back row was dull.",  # a long subject
    "I loved it.",  # no copula
    "The plot was not dull.",  # already negated
    "Dull was the plot.",  # no subject before a copula
])
def test_sentences_of_other_forms_give_no_frames(sentence: str) -> None:
    assert augment.framed(sentence, 0, VALENCES, np.random.default_rng(0)) == []


def test_frame_rows_come_from_agreeing_sentences_only() -> None:
    texts = ["The plot was dull. We left early.", "The plot was dull. It was great anyway."]
    made, counts = augment.rows(["frames"], texts, [0, 1], VALENCES, seed=3)
    assert counts == {"frames": 4}  # review 2's "dull" disagrees with it; "great" agrees
    assert [y for _, y in made] == [0, 1, 1, 0]
    assert "plot" in made[0][0] and "it" in made[2][0]


def test_advice_rows_keep_their_review_label() -> None:
    texts = ["Don't waste your time. The plot was dull.",
             "I recommend it to everyone. Do not miss it! Please don't ask me why it works.",
             "Don't think about it, and you will find that the film runs on much longer than "
             "anyone could want, with a plot that goes nowhere at all."]
    made, counts = augment.rows(["advice"], texts, [0, 1, 0], VALENCES, seed=0)
    assert made == [("Don't waste your time.", 0), ("I recommend it to everyone.", 1),
                    ("Do not miss it!", 1), ("Please don't ask me why it works.", 1)]
    assert counts == {"advice": 4}  # the third review's sentence is too long to be advice


def test_rated_advice_keeps_only_a_dont_before_a_rated_word() -> None:
    texts = ["Don't waste your time. Don't watch it.", "I recommend it to everyone. Do not miss "
             "it! Please don't ask me why it works. Please do not"]
    made, counts = augment.rows(["rated-advice"], texts, [0, 1], {**VALENCES, "waste": -1.8,
                                                                 "miss": -0.6}, seed=0)
    assert made == [("Don't waste your time.", 0), ("I recommend it to everyone.", 1),
                    ("Do not miss it!", 1)]
    # "watch" and "ask" are not rated, and "Please do not" has no word after its opener
    assert counts == {"rated-advice": 3}


def test_emoji_rows_end_plain_sentences_with_a_rated_emoji() -> None:
    emoji = {"😍": 2.6, "😠": -2.3, "🎉": 0.5}  # 🎉 is rated too weakly to say a verdict
    texts = ["We watched it on a Sunday. The plot was dull. It was not on TV."] * 2 + \
            ["The ending was great, we agreed."] * 2
    made, counts = augment.rows(["negation", "emoji"], texts, [0, 0, 1, 1], VALENCES, seed=2,
                                emoji=emoji)
    rows = made[counts["negation"]:]
    assert counts["emoji"] == len(rows) == 2  # half as many as rated sentences
    assert sorted(y for _, y in rows) == [0, 1]
    for text, label in rows:
        # only the plain sentence (no rated word, no negation) takes an emoji
        assert text.startswith("We watched it on a Sunday ")
        assert set(text.split()[-1]) == {"😍" if label else "😠"}
    assert augment.rows(["emoji"], texts, [0, 0, 1, 1], VALENCES, seed=2)[1] == {"emoji": 0}


def test_unknown_kinds_are_refused_before_any_work(tmp_path: Path) -> None:
    from lstm_sentiment.errors import UserError

    config = cfg.preset("seed")
    config.data.source = str(tmp_path / "nowhere")
    config.train.augment = ["sentences", "paraphrase"]
    with pytest.raises(UserError, match=r"unknown augmentation \['paraphrase'\]"):
        run(config, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_a_run_trains_on_sentences_and_rule_made_rows(tiny_imdb: Path, tmp_path: Path) -> None:
    config = cfg.preset("seed")
    config.data.source = str(tiny_imdb)
    config.text.max_tokens, config.text.sequence_length = 60, 16
    config.train.epochs, config.train.batch_size = 1, 16
    config.train.augment = list(augment.KINDS)
    lines: list[str] = []
    model = run(config, tmp_path / "m", evaluate_test=False, log=lines.append)
    (note,) = [line for line in lines if line.startswith("Augmented: ")]
    assert all(f"{kind} rows" in note for kind in augment.KINDS)
    assert model.config.train.augment == list(augment.KINDS)
    assert model.predict("great fun").label is not None
