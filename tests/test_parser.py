"""The rule parser: the case table (exact plans), errors, refinements, replies, prompts.

Pure Python: nothing here imports numpy or torch.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter

import jsonschema
import pytest
from parser_cases import CASES, NEW_CASES, Case

from parsers import ACTIONS, EDITPLAN_SCHEMA, Edit, EditPlan, InstructionError, parse
from parsers.base import InstructionParser
from parsers.prompts import DiffusionPrompts, derive_prompts, region_prompts
from parsers.rules import RuleParser, normalize, parse_number
from parsers.vocabulary import EXAMPLES


def _previous(case: Case) -> EditPlan | None:
    if case.previous is None:
        return None
    return EditPlan(edits=tuple(Edit(*row) for row in case.previous))  # type: ignore[arg-type]


# -- the case table --------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=[f"{c.group}-{i}-{c.text[:40]}" for i, c in enumerate(CASES)])
def test_case_table(case: Case) -> None:
    if case.error:
        with pytest.raises(InstructionError) as info:
            parse(case.text, _previous(case))
        message = str(info.value)
        assert "0" in message and "2" in message, message  # names the valid range
        return
    plan = parse(case.text, _previous(case))
    assert plan.to_dict() == case.expected
    jsonschema.validate(json.loads(plan.to_json()), EDITPLAN_SCHEMA)
    assert bool(plan.changes) == case.refinement, plan.changes
    if case.reply:
        assert not plan.edits and plan.message
    if plan.edits:  # a message beside edits only says what was not understood
        assert (plan.message is not None) == case.note, plan.message
    if case.note:
        assert plan.message.startswith("I understood ") and "I did not understand “" in plan.message


def test_case_table_is_large_and_covers_every_kind() -> None:
    assert len(CASES) >= 200
    groups = Counter(c.group for c in CASES)
    for group in ("template", "action", "combination", "exclusion", "target", "strength", "command",
                  "chitchat", "refinement"):
        assert groups[group] >= 10, groups
    assert sum(c.error for c in CASES) >= 15
    assert {a for c in CASES for _, a, _ in c.edits} == set(ACTIONS)
    assert {c.command for c in CASES} >= {"undo", "redo", "reset", "help"}
    assert len({c.text for c in CASES if c.previous is None}) == sum(c.previous is None for c in CASES)


def test_issue_22_wording_has_its_own_cases() -> None:
    """Commands in ordinary words, shared actions, intensifiers, protective clauses, bare strengths,
    non-numbers and partial understanding: at least 150 cases beyond the original table."""
    assert len(NEW_CASES) >= 150
    groups = Counter(c.group for c in NEW_CASES)
    for group in ("command-words", "multi-action", "intensifier", "protective", "bare-strength",
                  "non-number", "partial"):
        assert groups[group] >= 10, groups
    assert sum(c.note for c in NEW_CASES) >= 10


# -- strengths -------------------------------------------------------------------------------
@pytest.mark.parametrize(("token", "value"), [
    ("0.5", 0.5), (".75", 0.75), ("0,5", 0.5), ("75%", 0.75), ("1", 1.0), ("0", 0.0), ("2", 2.0),
    ("150%", 1.5), ("+0.25", 0.25), ("2.0", 2.0),
])
def test_parse_number_accepts_the_documented_forms(token: str, value: float) -> None:
    assert parse_number(token) == value


@pytest.mark.parametrize("token", ["0.5.3", "-1", "1e9", "2.5", "abc%", "250%", "2.01", "-0.1", "1,2,3",
                                   "..5"])
def test_bad_numbers_name_the_value_and_the_range(token: str) -> None:
    with pytest.raises(InstructionError) as info:
        parse(f"restore the dog with {token}")
    message = str(info.value)
    assert repr(token) in message
    assert "0 to 2" in message


def test_user_numbers_are_never_clamped() -> None:
    for token in ("2.0001", "-0.0001", "200.5%"):
        text = f"restore the dog with {token}"
        with pytest.raises(InstructionError):
            parse(text)


def test_instruction_error_is_a_value_error_for_callers() -> None:
    with pytest.raises(ValueError, match="valid range"):
        parse("denoise the sky with 9")


# -- commands and replies --------------------------------------------------------------------
def test_help_reply_shows_examples() -> None:
    plan = parse("what can you do?")
    assert plan.command == "help" and not plan.edits
    assert all(example in plan.message for example in EXAMPLES)


@pytest.mark.parametrize("text", ["", "   ", "hello", "make the dog purple", "the weather is nice",
                                  "remove the dog", "stronger", "thanks"])
def test_no_restoration_gives_a_reply_with_examples(text: str) -> None:
    plan = parse(text)
    assert plan.edits == () and plan.command is None
    assert EXAMPLES[0] in plan.message


def test_unsupported_request_is_named_in_the_reply() -> None:
    assert "make the dog purple" in parse("Make the dog purple!").message


def test_refinement_without_previous_says_there_is_nothing_to_adjust() -> None:
    plan = parse("a bit less")
    assert "nothing to adjust" in plan.message and "a bit less" in plan.message


def test_very_long_text_gets_a_reply() -> None:
    plan = parse("restore the dog " * 200)
    assert not plan.edits and "too long" in plan.message


def test_the_length_cap_holds_after_unicode_normalisation() -> None:
    # "\ufdfa" is one character that NFKC expands to 18: 2,000 typed would be 36,000 parsed
    plan = parse("restore the dog " + "\ufdfa" * 1900)
    assert not plan.edits and "too long" in plan.message
    assert "1916 typed, 34216 characters; at most 2000" in plan.message
    ligatures = "restore the dog and the ﬁsh"  # NFKC "ﬁ" → "fi": short messages still parse
    assert parse(ligatures).edits


# -- refinements: a conversation -------------------------------------------------------------
def test_conversation_refines_the_previous_plan_step_by_step() -> None:
    plan = parse("make the dog clear with 0.5, keep background bokeh")
    plan = parse("stronger", plan)
    assert plan.changes == "fidelity of dog 0.5 → 0.25"
    plan = parse("also the sky", plan)
    assert plan.changes == "added sky (restore, fidelity 0.25)"
    assert [e.target for e in plan.edits] == ["dog", "sky", "background"]
    plan = parse("a bit less on the sky", plan)
    assert plan.changes == "fidelity of sky 0.25 → 0.4"
    plan = parse("same but 0.8 on the dog", plan)
    assert plan.to_dict()["edits"] == [
        {"target": "dog", "action": "restore", "fidelity": 0.8},
        {"target": "sky", "action": "restore", "fidelity": 0.4},
        {"target": "background", "action": "bokeh", "fidelity": None},
    ]
    fresh = parse("denoise the cat", plan)  # a new instruction is not a refinement
    assert fresh.changes is None and fresh.to_dict()["edits"] == [{"target": "cat", "action": "denoise",
                                                                   "fidelity": None}]
    assert parse("undo", plan).command == "undo"


def test_refinement_step_sizes() -> None:
    previous = EditPlan(edits=(Edit("dog", "restore", None),))
    steps = {"stronger": 0.75, "weaker": 1.25, "a bit stronger": 0.85, "slightly gentler": 1.15,
             "much stronger": 0.5, "a lot less": 1.5, "a tiny bit stronger": 0.9, "even stronger": 0.75}
    for text, expected in steps.items():
        assert parse(text, previous).edits[0].fidelity == expected, text


def test_refinement_clamps_and_says_so() -> None:
    previous = EditPlan(edits=(Edit("dog", "restore", 1.9), Edit("sky", "denoise", 0.1)))
    weaker = parse("much weaker", previous)
    assert [e.fidelity for e in weaker.edits] == [2.0, 0.6]
    assert weaker.changes == ("fidelity of dog 1.9 → 2 (clamped to the valid range 0–2); "
                              "fidelity of sky 0.1 → 0.6")
    at_limit = parse("much stronger", EditPlan(edits=(Edit("dog", "restore", 0.0),)))
    assert not at_limit.edits and "already 0" in at_limit.message


def test_refinement_leaves_keep_and_bokeh_alone() -> None:
    previous = EditPlan(edits=(Edit("dog", "deblur", 0.5), Edit("sky", "keep"),
                               Edit("background", "bokeh", 0.8)))
    plan = parse("stronger", previous)
    assert [e.fidelity for e in plan.edits] == [0.25, None, 0.8]


def test_also_copies_the_last_regions_treatment_and_keep_replaces() -> None:
    previous = EditPlan(edits=(Edit("dog", "denoise", 0.6), Edit("background", "keep")))
    plan = parse("the cat too", previous)
    assert [(e.target, e.action, e.fidelity) for e in plan.edits] == [
        ("dog", "denoise", 0.6), ("cat", "denoise", 0.6), ("background", "keep", None)]
    plan = parse("also blur the background", previous)
    assert [(e.target, e.action) for e in plan.edits] == [("dog", "denoise"), ("background", "bokeh")]
    assert plan.changes == "removed background; added background (bokeh, fidelity auto (1))"


def test_removing_the_only_target_leaves_a_reply() -> None:
    plan = parse("drop the dog", EditPlan(edits=(Edit("dog", "restore", 0.5),)))
    assert not plan.edits and plan.message


# -- normalisation and the interface ---------------------------------------------------------
def test_normalize() -> None:
    assert normalize("  Don’t TOUCH the Face, please!! ") == "do not touch the face, !!"
    assert normalize("50 percent & 0,5") == "50% and 0,5"


def test_rule_parser_is_the_default_behind_the_abc() -> None:
    parser = RuleParser()
    assert isinstance(parser, InstructionParser)
    assert parser.parse("denoise the sky") == parse("denoise the sky")

    class EchoParser(InstructionParser):  # e.g. an LLM parser: same contract, same entry point
        def parse(self, text: str, previous: EditPlan | None = None) -> EditPlan:
            return EditPlan(edits=(Edit(text.strip() or "image"),))

    assert EchoParser().parse("dog").edits[0].target == "dog"


def test_parser_package_imports_no_numpy_or_torch() -> None:
    code = ("import sys, parsers, parsers.rules, parsers.prompts; parsers.parse('denoise the sky'); "
            "print(sorted(m for m in ('numpy', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_adversarial_repetitions_stay_fast() -> None:
    texts = ["the sky is " + "so very " * 30 + "nice", "restore " + "with " * 300 + "x",
             "the dog " + "and the dog " * 150, "a bit " * 300 + "stronger",
             "make " + "the dog clear with 0.5 and " * 60]
    previous = EditPlan(edits=(Edit("dog", "restore", 0.5),))
    for text in texts:
        start = time.perf_counter()
        for prev in (None, previous):
            try:
                parse(text, prev)
            except InstructionError:
                pass
        assert time.perf_counter() - start < 0.5, text[:40]


# -- prompts for the diffusion restorer ------------------------------------------------------
def test_prompts_follow_the_training_phrasing() -> None:
    plan = parse("make the dog clear with 0.5 and keep other parts clear with 1.0")
    assert derive_prompts(plan) == [DiffusionPrompts("dog", "make dog clear", "dog", False),
                                    DiffusionPrompts("background", "", "", False)]
    plan = parse("make the man on the left clear with 0.5 and keep other parts bokeh blur with 0.8")
    assert derive_prompts(plan) == [DiffusionPrompts(
        "man on the left", "make man on the left clear and keep other part bokeh blur",
        "man on the left in front of bokeh background", True)]


def test_prompts_for_whole_image_multi_region_and_nothing() -> None:
    assert derive_prompts(parse("denoise")) == [DiffusionPrompts("image", "", "", False)]
    plan = parse("denoise and sharpen the cat, restore the dog, keep the sky as is, blur the background")
    assert [(p.target, p.control, p.main) for p in derive_prompts(plan)] == [
        ("cat", "make cat clear and keep other part bokeh blur", "cat in front of bokeh background"),
        ("dog", "make dog clear and keep other part bokeh blur", "dog in front of bokeh background")]
    assert derive_prompts(parse("blur the background")) == []
    assert derive_prompts(parse("undo")) == []
    assert region_prompts("bird", bokeh=False).control == "make bird clear"
    assert "part bokeh" in region_prompts("bird", bokeh=True).control  # "part", singular
