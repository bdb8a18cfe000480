"""The slot grammar reads the phase numbers and the quiz length it is given, not a fixed 1-4 and
0-6: the same sentences mean different phases in a four- and a five-phase roadmap."""

from __future__ import annotations

import pytest

from bot.matching.normalize import clean_text
from bot.matching.slots import SlotGrammar

FOUR = SlotGrammar.of([1, 2, 3, 4], 6)
FIVE = SlotGrammar.of([1, 2, 3, 4, 5], 8)


def phase(grammar: SlotGrammar, text: str) -> int | None:
    return grammar.phase_of(grammar.mentions(clean_text(text)))


@pytest.mark.parametrize(
    ("text", "four", "five"),
    [
        ("whats the last phase about", 4, 5),
        ("the final stage", 4, 5),
        ("just finished phase 4, what now", 4, 5),  # past the last phase: still the last
        ("what do I need before phase 5", None, 4),
        ("I'm in phase five", None, 5),
        ("the fifth phase", None, 5),
        ("p5 checklist", None, 5),
        ("phase v", None, 5),
        ("before phase 1", 1, 1),  # before the first phase: still the first
        ("in phase three, what differs from phase two", 3, 3),
        ("the staff one", None, None),
        ("in this phase i need help", None, None),
    ],
)
def test_phase_mentions_follow_the_roadmap(text, four, five):
    assert phase(FOUR, text) == four
    assert phase(FIVE, text) == five


@pytest.mark.parametrize(
    ("text", "four_of_six", "five_of_eight"),
    [
        ("I scored 4/6 on the quiz", 4, None),
        ("I scored 7/8 on the quiz", None, 7),
        ("answered yes to all of them on the quiz", 6, 8),
        ("yes to all eight questions", None, 8),
        ("yes to all six questions", 6, 6),  # six of eight: six
        ("yes to all nine questions", None, None),  # more than the quiz has
        ("7 yes on the quiz", None, 7),
        ("5 out of six on the quiz", 5, None),
        ("none yes on the quiz", 0, 0),
        ("I like pizza", None, None),
    ],
)
def test_quiz_counts_follow_the_quiz_length(text, four_of_six, five_of_eight):
    assert FOUR.quiz_score(clean_text(text)) == four_of_six
    assert FIVE.quiz_score(clean_text(text)) == five_of_eight


def test_a_quiz_count_places_a_member_through_the_routing():
    routing = [1, 1, 1, 2, 2, 3, 3, 4, 5]  # 0..8 yes
    slots = FIVE.read(clean_text("I got 8/8 on the quiz, what next"), [], [], routing)
    assert (slots.yes, slots.phase) == (8, 5)
    assert FIVE.read(clean_text("got 9/8 on the quiz"), [], [], routing).phase is None


def test_a_rewritten_mention_carries_the_phase_the_member_is_in():
    assert FIVE.rewrite_phase("done with phase 4").endswith("phaseslot5")
    assert FOUR.rewrite_phase("done with phase 4").endswith("phaseslot4")


def test_no_phases_means_no_phase_mentions():
    empty = SlotGrammar.of([], 0)
    assert empty.mentions("phase 2 and the last phase") == []
    assert empty.rewrite_phase("phase 2") == "phase 2"


def test_grammars_are_shared_per_shape():
    assert SlotGrammar.of([4, 3, 2, 1], 6) is FOUR
