"""The parser interface. The rule parser is the default; an LLM parser could sit behind it later."""

from __future__ import annotations

import abc

from parsers.plan import EditPlan


class InstructionParser(abc.ABC):
    """Turns one chat message into an EditPlan.

    ``previous`` is the plan the last restoring turn ran, so refinements such as "stronger" or
    "also the sky" can return an adjusted copy of it (with ``changes`` set). Implementations
    raise only ``parsers.InstructionError`` (malformed strengths), never anything else.
    """

    @abc.abstractmethod
    def parse(self, text: str, previous: EditPlan | None = None) -> EditPlan: ...
