"""Property tests for the wording of issue #22: strength words, commands, protective clauses.

- A strength word (intensity, intensifier, comparative degree, number) never changes the target.
- A command phrase (reset / undo / redo in ordinary words) never yields an edit.
- A strength with nothing to apply it to is a question back, never a restoration.
- Non-numbers where a strength belongs ("nan", "inf") are the malformed-strength error.
- Every plan the parser returns validates against the EditPlan schema, and a message beside
  edits always says what was understood and what was not.

Pure Python: nothing here imports numpy or torch.
"""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers import EDITPLAN_SCHEMA, Edit, EditPlan, InstructionError, parse
from parsers import vocabulary as voc
from parsers.plan import ACTIONS

PROPERTY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VERBS = ["restore", "denoise", "sharpen", "deblur", "clean up", "fix", "enhance", "remove the noise from",
         "remove jpeg artifacts from", "get rid of the grain on", "deblock", "repair", "improve"]
TARGETS = ["the dog", "the man on the left", "the sky", "the old car", "my grandmother's face",
           "the text on the sign", "the second window from the right", "the flowers", "the license plate"]
NUMBERS = ["with 0.5", "at 75%", "with fidelity 0.3", "with .8", "at 1", "with a strength of 1.2"]


def _regex_words(table: object) -> st.SearchStrategy[str]:
    return st.one_of([st.from_regex(re.compile(p), fullmatch=True) for p in table])  # type: ignore[attr-defined]


def _no_stray(words: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return words.map(lambda w: " ".join(w.split())).filter(bool)


#: Intensity phrases that only work at the end of a clause ("denoise the sky hard") or as a clause
#: of their own ("be gentle") are tried at the end only.
_ANYWHERE = [w for w in voc.INTENSITY if "(?=$)" not in w and not w.startswith("(?:be ")]
STRENGTH_WORDS = _no_stray(st.one_of(
    _regex_words(_ANYWHERE), st.sampled_from(sorted(voc.INTENSIFIERS)), st.sampled_from(NUMBERS)))
TRAILING_STRENGTHS = _no_stray(st.one_of(
    _regex_words(voc.INTENSITY), st.sampled_from(NUMBERS),
    st.sampled_from(sorted(voc.COMPARATIVE_DEGREES)).map(lambda d: f"{d} more"),
    st.sampled_from(["completely", "thoroughly", "fully", "more"])))


def _shape(plan: EditPlan) -> list[tuple[str, str]]:
    return [(e.target, e.action) for e in plan.edits]


def _valid(plan: EditPlan) -> None:
    jsonschema.validate(json.loads(plan.to_json()), EDITPLAN_SCHEMA)
    if plan.edits and plan.message is not None:
        assert plan.message.startswith("I understood ") and "I did not understand “" in plan.message


# -- a strength word never changes the target ------------------------------------------------
@PROPERTY
@given(st.sampled_from(VERBS), st.sampled_from(TARGETS), STRENGTH_WORDS)
def test_a_leading_strength_word_never_changes_the_target(verb: str, target: str, word: str) -> None:
    plain = parse(f"{verb} {target}")
    assert plain.edits
    strong = parse(f"{word} {verb} {target}")
    assert _shape(strong) == _shape(plain), (word, strong)
    assert all(e.fidelity is not None for e in strong.edits)
    _valid(strong)


@PROPERTY
@given(st.sampled_from(VERBS), st.sampled_from(TARGETS), TRAILING_STRENGTHS)
def test_a_trailing_strength_word_never_changes_the_target(verb: str, target: str, word: str) -> None:
    plain = parse(f"{verb} {target}")
    strong = parse(f"{verb} {target} {word}")
    assert _shape(strong) == _shape(plain), (word, strong)
    assert all(e.fidelity is not None for e in strong.edits)


@PROPERTY
@given(st.sampled_from(TARGETS), st.sampled_from(["sharper", "crisper", "clearer", "cleaner", "blurrier",
                                                  "less noisy", "more detailed", "less blocky"]),
       st.sampled_from(sorted(voc.COMPARATIVE_DEGREES)))
def test_a_comparative_degree_never_changes_the_target(target: str, adjective: str, degree: str) -> None:
    plain = parse(f"make {target} {adjective}")
    graded = parse(f"make {target} {degree} {adjective}")
    assert _shape(graded) == _shape(plain), graded
    assert all(e.fidelity == voc.COMPARATIVE_DEGREES[degree] for e in graded.edits)


# -- a command phrase never yields an edit ---------------------------------------------------
_COMMAND_TEXT = st.one_of([
    st.tuples(st.just(name), st.from_regex(re.compile(rf"{voc.COMMAND_LEAD}(?:{src}){voc.COMMAND_TRAIL}"),
                                           fullmatch=True))
    for name, src in voc.COMMANDS.items() if name != "help"])  # help's "?" is punctuation once led
LEADS = ["", "ok, ", "hmm, ", "actually, ", "please ", "could you ", "can you please ", "let's ", "oops, ",
         "on second thought, ", "no, ", "just "]
TRAILS = ["", " please", " now", ", thanks", "!", ".", "?", " for me", " thank you"]
RESET_PHRASES = [
    "reset", "reset everything", "reset to the original", "go back to the original photo",
    "revert everything",
    "revert all the changes", "undo all my edits", "start over", "start from scratch", "show me the original",
    "back to the original version", "return to the unedited image", "take me back to the starting version",
    "put it back the way it was", "discard all the changes", "throw away every edit", "begin again",
    "switch back to the photo I uploaded", "give me the original back", "back to square one",
]
UNDO_PHRASES = [
    "undo", "undo that", "take that back", "take it back", "revert that", "revert the last edit",
    "go back a step", "step back", "scratch that", "roll that back", "cancel the last change",
    "undo my last change", "the previous version was better", "I liked it better before",
]
REDO_PHRASES = ["redo", "redo that", "bring it back", "go forward", "reapply the last edit", "undo the undo"]
PHRASES = [("reset", p) for p in RESET_PHRASES] + [("undo", p) for p in UNDO_PHRASES] + [
    ("redo", p) for p in REDO_PHRASES]
_edits = st.builds(Edit, st.sampled_from(["dog", "sky", "image", "background"]), st.sampled_from(ACTIONS),
                   st.one_of(st.none(), st.sampled_from([0.25, 0.5, 1.0, 1.5])))
PREVIOUS = st.one_of(st.none(),
                     st.lists(_edits, min_size=1, max_size=3).map(lambda e: EditPlan(edits=tuple(e))))


@PROPERTY
@given(st.sampled_from(PHRASES), st.sampled_from(LEADS), st.sampled_from(TRAILS), st.booleans(), PREVIOUS)
def test_a_command_in_ordinary_words_never_yields_an_edit(
    phrase: tuple[str, str], lead: str, trail: str, upper: bool, previous: EditPlan | None
) -> None:
    name, words = phrase
    text = lead + words + trail
    plan = parse(text.upper() if upper else text, previous)
    assert plan.command == name and not plan.edits, (text, plan)
    _valid(plan)


@PROPERTY
@given(_COMMAND_TEXT, PREVIOUS)
def test_every_phrase_of_the_command_grammar_is_a_command(
    named: tuple[str, str], previous: EditPlan | None
) -> None:
    name, text = named
    plan = parse(text, previous)
    assert plan.command == name and not plan.edits, (text, plan)


@PROPERTY
@given(st.sampled_from(VERBS), st.sampled_from(["reset", "undo", "redo", "revert"]))
def test_command_words_never_become_region_names(verb: str, command: str) -> None:
    plan = parse(f"{verb} the {command} button")
    assert all(command not in e.target for e in plan.edits), plan


# -- a bare strength is a question, a non-number an error ------------------------------------
BARE = _no_stray(st.one_of(
    st.integers(0, 200).map(lambda h: f"{h / 100:g}"), st.integers(0, 200).map(lambda h: f"with {h / 100:g}"),
    st.integers(0, 200).map(lambda h: f"at {h}%"), st.sampled_from(sorted(voc.INTENSITY)).filter(
        lambda w: "(" not in w),
    st.sampled_from(["stronger", "a bit less", "even stronger", "gentler please"])))


@PROPERTY
@given(BARE)
def test_a_bare_strength_with_nothing_before_it_is_a_question(text: str) -> None:
    plan = parse(text)
    assert not plan.edits and plan.command is None and "?" in plan.message, (text, plan)


@PROPERTY
@given(BARE.filter(lambda t: t[:1].isdigit() or t.startswith(("with", "at"))), st.lists(
    _edits.filter(lambda e: e.action in voc.RESTORING), min_size=1, max_size=3))
def test_a_bare_number_after_a_result_sets_that_strength(text: str, edits: list[Edit]) -> None:
    plan = parse(text, EditPlan(edits=tuple(edits)))
    _valid(plan)
    assert plan.edits or plan.message


@PROPERTY
@given(st.sampled_from(["nan", "NaN", "inf", "-inf", "+inf", "infinity", "Infinity", "∞", "nan%"]),
       st.sampled_from(["restore the dog with {}", "denoise the sky at {}", "with {}", "fidelity: {}",
                        "sharpen the face with fidelity {}", "strength = {}", "{}",
                        "make the dog clear with {} and keep other parts clear with 1"]), PREVIOUS)
def test_non_numbers_as_strengths_are_the_malformed_strength_error(
    token: str, form: str, previous: EditPlan | None
) -> None:
    with pytest.raises(InstructionError, match="0 to 2"):
        parse(form.format(token), previous)


_KNOWN = {*voc.NUMBER_WORDS, *voc.FIDELITY_WORDS, *voc.STRENGTH_WORDS, "of", "is", "at", "and", "on", "for",
          "to", "then", "but", "each", "both", "too", "also", "while", "only", "instead", "keep", "leave",
          "except", "fidelity", "strength", "scale", "as"}


@PROPERTY
@given(st.from_regex(r"[a-z]{2,9}", fullmatch=True).filter(lambda w: w not in _KNOWN),
       st.sampled_from(["restore the dog with fidelity {}", "fidelity: {}", "sharpen the sky, strength = {}",
                        "denoise the face with a strength of {}"]))
def test_a_word_where_a_strength_belongs_is_malformed(word: str, form: str) -> None:
    with pytest.raises(InstructionError, match="0 to 2"):
        parse(form.format(word))


# -- protective clauses and partial understanding --------------------------------------------
QUALITY_WORDS = ["skin texture", "the texture", "the film grain", "some grain", "the fine details",
                 "the film look", "its character", "the natural look", "the freckles"]
PROTECT_FORMS = ["but keep {}", "while keeping {}", "without losing {}", "but preserve {}",
                 "and don't remove {}", ", retain {}"]


@PROPERTY
@given(st.sampled_from(VERBS), st.sampled_from(TARGETS), st.sampled_from(PROTECT_FORMS),
       st.sampled_from(QUALITY_WORDS))
def test_a_protected_quality_is_never_a_region(verb: str, target: str, form: str, quality: str) -> None:
    plain = parse(f"{verb} {target}")
    plan = parse(f"{verb} {target} {form.format(quality)}")
    assert _shape(plan) == _shape(plain), plan
    assert all(e.fidelity == voc.PROTECT_FIDELITY for e in plan.edits)
    _valid(plan)


CLAUSES = [*VERBS, *TARGETS, *QUALITY_WORDS, "and", ",", "but keep", "without losing", "make it purple",
           "crop the photo", "really", "super", "even more", "way sharper", "not too much", "reset",
           "undo", "the original", "with nan", "with 0.5", "0.8", "keep the grain on the film border",
           "noise and jpeg artifacts", "from the sky", "I love it", "tell me a joke"]


@PROPERTY
@given(st.lists(st.sampled_from(CLAUSES), min_size=1, max_size=10).map(" ".join), PREVIOUS)
def test_every_plan_validates_and_explains_what_it_left_out(text: str, previous: EditPlan | None) -> None:
    try:
        plan = parse(text, previous)
    except InstructionError as err:
        assert "0 to 2" in str(err)
        return
    _valid(plan)
    assert plan.edits or plan.command or plan.message


def test_partial_understanding_names_both_parts() -> None:
    plan = parse("denoise the sky strongly and make the dog purple")
    assert [(e.target, e.action, e.fidelity) for e in plan.edits] == [("sky", "denoise", 0.5)]
    assert plan.message == ("I understood “denoise sky at fidelity 0.5”; I did not understand “make the "
                            "dog purple”, so I left that out.")


def test_bare_strength_question_suggests_a_full_instruction() -> None:
    message = parse("with 0.5").message
    assert "“restore the dog with 0.5”" in message and message.count("?") == 1
