"""The EditPlan: what the parser hands to the rest of Restora.

The JSON form is a public contract (``restora parse TEXT --json``), see DESIGN.md::

    {"edits": [{"target": "dog", "action": "restore", "fidelity": 0.5},
               {"target": "background", "action": "bokeh", "fidelity": null}],
     "command": null}

Only ``edits`` and ``command`` are part of that contract. ``message`` and ``changes`` are
conversation text for the assistant (help replies, what a refinement changed) and never appear in
the JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Action = Literal["restore", "denoise", "deblur", "dejpeg", "bokeh", "keep"]
Command = Literal["undo", "redo", "reset", "help"]

ACTIONS: tuple[str, ...] = get_args(Action)
COMMANDS: tuple[str, ...] = get_args(Command)

#: Reserved targets (DESIGN.md): the whole picture, and everything no other edit names.
IMAGE = "image"
BACKGROUND = "background"

FIDELITY_MIN = 0.0
FIDELITY_MAX = 2.0
FIDELITY_NEUTRAL = 1.0


class InstructionError(ValueError):
    """The instruction asked for something malformed, e.g. a strength of ``0.5.3`` or ``-1``.

    The message is meant for the user as it is: it says what was received and what is valid.
    """


def check_fidelity(value: float, *, source: str | None = None) -> float:
    """Return ``value`` if it is a valid fidelity scale in [0, 2]; raise InstructionError if not."""
    shown = source if source is not None else repr(value)
    if not isinstance(value, int | float) or value != value:  # NaN is not a strength
        raise InstructionError(
            f"Strength {shown} is not a number; use a fidelity between {FIDELITY_MIN:g} and "
            f"{FIDELITY_MAX:g} (1 is neutral, lower restores more strongly)."
        )
    if not FIDELITY_MIN <= value <= FIDELITY_MAX:
        raise InstructionError(
            f"Strength {shown} is outside the valid range {FIDELITY_MIN:g} to {FIDELITY_MAX:g} "
            "(1 is neutral, lower restores more strongly, higher stays closer to the input)."
        )
    return float(value)


@dataclass(frozen=True)
class Edit:
    """One region and what to do with it.

    target: lower-case noun phrase without leading article/possessive, or ``image`` /
        ``background``.
    action: one of ACTIONS.
    fidelity: InstructRestore fidelity scale in [0, 2]; ``None`` means automatic.
    """

    target: str
    action: Action = "restore"
    fidelity: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.target, str) or not self.target.strip():
            raise ValueError(f"Edit target must be a non-empty string, got {self.target!r}")
        if self.action not in ACTIONS:
            raise ValueError(f"Edit action must be one of {ACTIONS}, got {self.action!r}")
        if self.fidelity is not None:
            check_fidelity(self.fidelity)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "action": self.action, "fidelity": self.fidelity}


@dataclass(frozen=True)
class EditPlan:
    """The parser's output. ``edits`` are applied in order; later edits win where regions overlap.

    message: a reply for the user when the text asked for no restoration (help, chit-chat,
        unsupported requests) or needs a clarification (a strength with nothing to apply it to);
        beside edits, what part of the message was not understood ("I understood X; I did not
        understand Y"). Not part of the JSON contract.
    changes: set when this plan refines the previous turn's plan ("stronger", "also the sky");
        says what changed, in words. Not part of the JSON contract.
    """

    edits: tuple[Edit, ...] = ()
    command: Command | None = None
    message: str | None = None
    changes: str | None = None
    extras: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.command is not None and self.command not in COMMANDS:
            raise ValueError(f"EditPlan command must be one of {COMMANDS} or None, got {self.command!r}")
        object.__setattr__(self, "edits", tuple(self.edits))

    @property
    def is_refinement(self) -> bool:
        return self.changes is not None

    @property
    def targets(self) -> list[str]:
        """Distinct targets in first-mention order."""
        return list(dict.fromkeys(edit.target for edit in self.edits))

    def to_dict(self) -> dict[str, Any]:
        """The DESIGN.md contract: exactly ``edits`` and ``command``."""
        return {"edits": [edit.to_dict() for edit in self.edits], "command": self.command}

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EditPlan:
        """Inverse of to_dict; raises ValueError naming the bad field."""
        if not isinstance(data, dict) or set(data) - {"edits", "command"}:
            raise ValueError(f"EditPlan JSON must have keys 'edits' and 'command', got {data!r}")
        edits = []
        for item in data.get("edits", []):
            if not isinstance(item, dict) or set(item) != {"target", "action", "fidelity"}:
                raise ValueError(
                    f"each edit needs exactly 'target', 'action', 'fidelity'; got {item!r}"
                )
            edits.append(Edit(item["target"], item["action"], item["fidelity"]))
        return cls(edits=tuple(edits), command=data.get("command"))


#: JSON Schema of ``EditPlan.to_dict()``; tests validate ``restora parse --json`` against it.
EDITPLAN_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["edits", "command"],
    "properties": {
        "edits": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["target", "action", "fidelity"],
                "properties": {
                    "target": {"type": "string", "minLength": 1},
                    "action": {"enum": list(ACTIONS)},
                    "fidelity": {
                        "oneOf": [
                            {"type": "null"},
                            {"type": "number", "minimum": FIDELITY_MIN, "maximum": FIDELITY_MAX},
                        ]
                    },
                },
            },
        },
        "command": {"enum": [*COMMANDS, None]},
    },
}
