"""Instruction text → EditPlan. Pure Python: importing this package never imports numpy or torch."""

from parsers.plan import (
    ACTIONS,
    BACKGROUND,
    COMMANDS,
    EDITPLAN_SCHEMA,
    IMAGE,
    Edit,
    EditPlan,
    InstructionError,
    check_fidelity,
)

__all__ = [
    "ACTIONS",
    "BACKGROUND",
    "COMMANDS",
    "EDITPLAN_SCHEMA",
    "IMAGE",
    "Edit",
    "EditPlan",
    "InstructionError",
    "check_fidelity",
    "parse",
]


def parse(text: str, previous: EditPlan | None = None) -> EditPlan:
    """Parse one chat message with the default rule parser. See parsers.rules."""
    from parsers.rules import RuleParser

    return RuleParser().parse(text, previous)
