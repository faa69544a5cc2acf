"""Property tests: whatever is typed, the parser raises nothing but InstructionError and its
JSON always validates against EDITPLAN_SCHEMA (also through ``restora parse --json``)."""

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

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FRAGMENTS = [
    "make", "the dog", "the man on the left", "clear", "with", "0.5", ".75", "0,5", "75%", "1", "2", "-1",
    "0.5.3", "1e9", "abc%", "and", "&", ",", ";", ".", "!", "?", "keep", "other parts", "bokeh blur",
    "the bokeh blur of other parts", "please", "denoise", "sharpen", "remove jpeg artifacts", "only",
    "except", "not", "it", "them", "leave the rest alone", "as is", "looks noisy", "clean it up",
    "strongly", "a bit", "slightly", "more", "less", "stronger", "also", "too", "same but", "on", "undo",
    "help", "fidelity", "at", ":", "=", "everything", "the background", "between", "the", "only the",
    "bush in front of sign", "3rd window from left", "don't touch", "purple", "  ",
]
_targets = st.sampled_from(["dog", "sky", "man on the left", "image", "background", "flowers"])
_fidelity = st.one_of(st.none(), st.floats(0, 2, allow_nan=False).map(lambda x: round(x, 2)))
_edits = st.builds(Edit, _targets, st.sampled_from(ACTIONS), _fidelity)
_plans = st.lists(_edits, min_size=1, max_size=4).map(lambda e: EditPlan(edits=tuple(e)))
PREVIOUS = st.one_of(st.none(), _plans)
TEMPLATE_TEXT = st.lists(st.sampled_from(FRAGMENTS), max_size=16).map(" ".join)


def _vocabulary_patterns() -> list[str]:
    """Every regex table of the parser's vocabulary, so fuzzing speaks the parser's words."""
    tables = [voc.INTENSITY, voc.INTENSITY_ADJECTIVES, voc.STEP_MODIFIERS, voc.SUFFIXES, voc.DEGRADATIONS,
              voc.DEGRADATION_NOUNS, voc.TARGET_DEGRADATIONS, voc.COMMANDS.values(), voc.INTENSIFIERS,
              voc.COMPARATIVE_DEGREES, voc.LEADING_ADJECTIVES]
    patterns = [p for table in tables for p in table] + voc.STRONGER + voc.WEAKER
    patterns += [p for p, _, _ in voc.PREFIXES]
    return patterns + [
        voc.UNSUPPORTED_ADJECTIVES, voc.UNSUPPORTED_VERBS, voc.IMAGE_WORDS, voc.BACKGROUND_WORDS,
        voc.PRONOUNS_ONE, voc.PRONOUNS_MANY, voc.POLITE_LEAD, voc.CONNECTIVES, voc.TRAIL_POLITE,
        voc.TRAIL_ADDITION, voc.GREETINGS, voc.COPULA, voc.PREDICATE_ADVERBS, voc.NEGATABLE, voc.DETERMINERS,
        voc.NUMBER_MARKER, voc.MORE_NOUNS, voc.COMPARATIVES, voc.QUALITIES, voc.PROTECT_VERBS,
        voc.GENTLER_CLAUSES, voc.ORIGINAL, voc.ALL_CHANGES, voc.LAST_CHANGE, voc.REMOVE_VERBS,
    ]


VOCABULARY = st.one_of([st.from_regex(re.compile(p), fullmatch=True) for p in _vocabulary_patterns()])
VOCABULARY_TEXT = st.lists(st.one_of(VOCABULARY, st.sampled_from(FRAGMENTS)), max_size=10).map(" ".join)


def _check(text: str, previous: EditPlan | None = None) -> EditPlan | None:
    try:
        plan = parse(text, previous)
    except InstructionError as err:
        assert "0 to 2" in str(err)
        return None
    data = json.loads(plan.to_json())
    jsonschema.validate(data, EDITPLAN_SCHEMA)
    assert plan.edits or plan.command or plan.message  # never a silent empty plan
    return plan


@FUZZ
@given(st.text(max_size=300), PREVIOUS)
def test_random_unicode_never_crashes(text: str, previous: EditPlan | None) -> None:
    _check(text, previous)


@FUZZ
@given(TEMPLATE_TEXT, PREVIOUS)
def test_random_template_fragments_never_crash(text: str, previous: EditPlan | None) -> None:
    _check(text, previous)


@FUZZ
@given(VOCABULARY_TEXT, PREVIOUS)
def test_vocabulary_phrases_never_crash(text: str, previous: EditPlan | None) -> None:
    _check(text, previous)


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=12).map("".join))
def test_fragments_glued_without_spaces_never_crash(text: str) -> None:
    _check(text)


@FUZZ
@given(st.text(max_size=40))
def test_parsing_is_deterministic(text: str) -> None:
    try:
        first = parse(text)
    except InstructionError:
        return
    assert parse(text) == first


@FUZZ
@given(st.integers(0, 200), st.sampled_from(["with {}", "at {}", "with fidelity {}", "fidelity: {}"]),
       st.booleans())
def test_in_range_numbers_are_taken_exactly(hundredths: int, form: str, comma: bool) -> None:
    token = f"{hundredths / 100:g}"
    token = token.replace(".", ",") if comma else token
    plan = parse(f"restore the dog {form.format(token)}")
    assert plan.to_dict()["edits"] == [{"target": "dog", "action": "restore", "fidelity": hundredths / 100}]
    percent = parse(f"sharpen the sky at {hundredths}%")
    assert percent.edits[0].fidelity == pytest.approx(hundredths / 100)


@FUZZ
@given(st.one_of(st.floats(2.001, 1e12), st.floats(-1e12, -0.001)).map(lambda x: f"{x:.3f}"))
def test_out_of_range_numbers_raise_and_quote_the_value(token: str) -> None:
    with pytest.raises(InstructionError) as info:
        parse(f"make the dog clear with {token} and keep other parts clear with 1")
    assert repr(token) in str(info.value)


@FUZZ
@given(st.lists(_edits, min_size=1, max_size=4),
       st.sampled_from(["stronger", "much weaker", "a bit less", "more on the dog", "less on the sky",
                        "also the cat", "the sky too", "same but stronger", "even stronger", "tone it down"]))
def test_refinements_stay_in_range_and_say_what_changed(edits: list[Edit], text: str) -> None:
    plan = _check(text, EditPlan(edits=tuple(edits)))
    assert plan is not None
    assert plan.changes or (not plan.edits and plan.message)


@settings(max_examples=40, deadline=None)
@given(st.one_of(TEMPLATE_TEXT, st.text(max_size=60)).filter(lambda t: "\x00" not in t and t[:1] != "-"))
def test_cli_parse_json_is_always_valid(text: str) -> None:
    cli = pytest.importorskip("assistant.cli", reason="the restora CLI is not importable here")
    from typer.testing import CliRunner

    result = CliRunner().invoke(cli.app, ["parse", text, "--json"])
    if result.exit_code == 2:  # a malformed strength: the message, no JSON
        assert "0 to 2" in result.output
        return
    assert result.exit_code == 0, result.output
    jsonschema.validate(json.loads(result.stdout), EDITPLAN_SCHEMA)
