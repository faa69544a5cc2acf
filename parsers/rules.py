"""The default instruction parser: regular expressions over normalised text, no model.

A message is read in this order (the first step that applies wins):

1. Empty or over-long text → no edits and a reply. Commands (the whole message, or the first
   clause before an instruction: "go back to the original and sharpen the face" is a reset plus
   edits, which run on the version the command moves to): undo / redo /
   reset / help, read from a small grammar in ``parsers.vocabulary`` (polite lead + verb + object
   + trail): a verb with "the original" / "the photo i uploaded" / "all the changes" is a reset
   ("go back to the original photo", "revert everything"), with "that" / "the last edit" an undo
   ("take that back"). Command verbs never become region names. Greetings and thanks → a reply
   with example instructions.
2. InstructRestore's templates, exactly: "make {region} clear with {s1} and keep other parts
   clear with {s2}" and "... keep other parts bokeh blur with {s2}" / "... keep the bokeh blur of
   other parts with {s2}" (case-insensitive; commas, semicolons, "&", extra spaces, trailing
   punctuation and "please" tolerated). ``{region}`` is kept whole, even with "and" inside.
3. Refinements of ``previous`` (step sizes in the ``parsers.vocabulary`` docstring): "stronger",
   "a bit less on the sky", "also the sky", "the sky too", "same but 0.8 on the dog", "not the
   sky". The result is the full adjusted plan with ``changes`` saying what changed. Without a
   previous plan such a message gets a reply that there is nothing to adjust yet; one that only
   sets a strength ("0.8 on the dog", "with 0.8") or names its own action ("also denoise the
   sky") starts a new plan instead.
4. Free wording. Sentences split at . ! ? ; and clauses at commas, "and", "then", "but",
   "except"... Each clause reads as ``[verb] [target] [adjective]`` plus a strength:
   "make | the dog | clear | with 0.5", "sharpen | the man on the left", "the grass | looks
   noisy". A clause with no verb continues the previous one ("restore the dog and the cat").
   Pronouns (it / them / that) mean the last target named in the message. Describing a
   degradation ("the grass looks noisy") asks for its fix, and a generic verb on a described
   target takes that fix ("... clean it up" → denoise). "only X" / "just X" / "leave the rest"
   add ``background: keep``; "except X" / "not X" keep X. "keep X with 0.8" (a number, no
   adjective; the form of InstructRestore's demo.sh) restores X at that fidelity.
   Degradation nouns listed after a removal verb share it and the region named at the end
   ("remove noise and jpeg artifacts from the sky" → denoise + dejpeg on the sky). Protective
   clauses ("but keep skin texture", "without losing the grain on the film border", "not too
   much") give the region they name, else the last one, a gentler fidelity (``PROTECT_FIDELITY``)
   where the user set none; they never name a region of their own.
   A command verb with a region ("reset the sky", "revert the face to the original") keeps it.
5. After a result, a fresh reading can still be an adjustment: a strength alone ("strongly")
   sets that strength; a comparative on an edit the plan already has ("make the background even
   blurrier") is a step on that edit; a message whose edits are all keep ("leave the sky alone")
   keeps those regions in the plan. With nothing before it, a strength alone ("with 0.5", "0.8",
   "strongly") gets a question back. A plan read from part of a message carries a ``message``
   saying "I understood X; I did not understand Y".

Strengths: a number after with / at / fidelity / strength / ":" / "=" (".75", "0,5", "75%",
"1"), a trailing decimal ("restore the dog 0.5"), or an intensity word (table in
``parsers.vocabulary``: adverbs, intensifiers such as "really" / "super", comparatives such as
"even blurrier" / "add more bokeh"). A number that is malformed ("nan", "inf", "0.5.3") or outside
[0, 2] raises ``InstructionError``; user numbers are never clamped. "keep" edits carry no fidelity.

This module holds steps 1 and 2 and the order; step 3 is in ``parsers.refine``, step 4 in
``parsers.reading`` (region names in ``parsers.targets``), normalisation and strengths in
``parsers.text``.
"""

from __future__ import annotations

import logging
import re
import unicodedata

from parsers import vocabulary as voc
from parsers.base import InstructionParser
from parsers.plan import BACKGROUND, IMAGE, Edit, EditPlan
from parsers.reading import _Item, read_message
from parsers.refine import _reply, adjust_relative, apply_strength, merge_keep, refine
from parsers.targets import _TRAIL_POLITE, clean_target, strip_fillers
from parsers.text import _EDGE_PUNCT, NOT_A_NUMBER, _rx, normalize, parse_number

__all__ = ["MAX_CHARS", "RuleParser", "message_problem", "normalize", "parse_number", "read_message",
           "refine"]

logger = logging.getLogger(__name__)

#: Longer messages get a reply instead of a parse (keeps the worst-case latency bounded). The cap
#: holds for the NFKC form too, since one character can expand to 18 ("\ufdfa").
MAX_CHARS = 2000


def message_problem(text: object) -> str | None:
    """The reply for a message that is empty or longer than MAX_CHARS (as typed or once NFKC
    normalised), else None. The CLI exits 2 on it; chat surfaces show it as the reply."""
    if not isinstance(text, str) or not text.strip():
        return voc.EMPTY_MESSAGE
    if len(text) > MAX_CHARS:
        return voc.TOO_LONG_MESSAGE.format(n=len(text), limit=MAX_CHARS)
    expanded = len(unicodedata.normalize("NFKC", text))
    if expanded > MAX_CHARS:
        return voc.TOO_LONG_MESSAGE.format(n=f"{len(text)} typed, {expanded}", limit=MAX_CHARS)
    return None


# -- the parser ------------------------------------------------------------------------------
_COMMANDS = [(name, _rx(rf"^{voc.COMMAND_LEAD}(?:{src}){voc.COMMAND_TRAIL}$"))
             for name, src in voc.COMMANDS.items()]
#: A command followed by an instruction: "go back to the original and sharpen only the face".
_LEAD_COMMANDS = [(name, _rx(rf"^{voc.COMMAND_LEAD}(?:{src})(?:,? (?:and then|and|then|and now)|[,;.]) "
                             r"(?P<rest>.+)$")) for name, src in voc.COMMANDS.items() if name != "help"]
_GREETING = _rx(rf"^{voc.GREETINGS}(?:,? {voc.GREETINGS})*$")
_SEP = r"[\s,;]*"
_TEMPLATE = _rx(
    rf"^make (?P<region>(?:(?! clear with ).)+?) clear{_SEP}with (?P<s1>\S+?){_SEP}(?:and{_SEP})?keep "
    rf"(?:(?:the )?other parts (?P<mode>clear|bokeh blur){_SEP}with|the bokeh blur of (?:the )?other parts"
    rf"{_SEP}with) (?P<s2>\S+?)$"
)
_POLITE = _rx(rf"^(?:{voc.POLITE_LEAD},? )+")
_THANKS = _rx(r"\b(?:thanks|thank you|thx|cheers|ty)\b")
_LONE_NUMBER = _rx(rf"^(?:(?:just|only|maybe|like|say|um|uh|hmm|ok|okay|so|then|now),? )*"
                  rf"(?:(?:use|try|set it to|set to|set it at|go with|make it|apply|how about|what about|"
                  rf"let us try|let us go with|let us use|do it|try it|go ahead|run it|apply it)(?: a)? )?"
                  rf"(?:an? )?(?:{voc.NUMBER_MARKER} )?"
                  rf"(?P<num>[+-]?[0-9.,]*[0-9][0-9.,]*%?|{NOT_A_NUMBER})(?: (?:fidelity|strength))?$")


class RuleParser(InstructionParser):
    """Regex/table parser; stateless and cheap to construct (all patterns compile at import)."""

    def parse(self, text: str, previous: EditPlan | None = None) -> EditPlan:
        """One chat message → EditPlan. Raises only InstructionError (a malformed strength)."""
        plan = self._parse(text, previous)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("parsed %r → %s (changes: %s)", text, plan.to_json(), plan.changes)
        return plan

    def _parse(self, text: str, previous: EditPlan | None) -> EditPlan:
        if (problem := message_problem(text)) is not None:
            return _reply(problem)
        norm = normalize(text)
        bare = _EDGE_PUNCT.sub("", norm)
        if not bare:
            return EditPlan(command="help", message=voc.HELP_MESSAGE) if "?" in norm else _reply(
                voc.NOT_UNDERSTOOD_MESSAGE)
        for name, regex in _COMMANDS:
            if regex.match(bare):
                return EditPlan(command=name, message=voc.HELP_MESSAGE if name == "help" else None)
        for name, regex in _LEAD_COMMANDS:
            if (m := regex.match(bare)) and (rest := self._parse(m.group("rest"), None)).edits:
                return EditPlan(edits=rest.edits, command=name, message=rest.message)  # type: ignore[arg-type]
        if m := _GREETING.match(bare):
            return _reply(voc.THANKS_MESSAGE if _THANKS.search(m.group(0)) else voc.GREETING_MESSAGE)
        bare = _TRAIL_POLITE.sub("", _POLITE.sub("", bare)) or bare
        if m := _TEMPLATE.match(bare):
            return self._template(m)
        refined = refine(bare, previous if previous and previous.edits else None, text.strip())
        if refined is not None:
            return refined
        if m := _LONE_NUMBER.match(bare):  # "0.8", "1", "with nan": a strength for nothing yet
            parse_number(m.group("num"))
            return _strength_question(bare)
        reading = read_message(bare)
        if previous is not None and previous.edits and reading.items and all(
                i.action == "keep" for i in reading.items):
            return merge_keep(previous, reading.items)  # "leave the sky alone" after a result
        if reading.relative and previous is not None and previous.edits:
            adjusted = adjust_relative(previous, reading.items)
            if adjusted is not None:
                return adjusted
        if reading.items:
            edits = tuple(_to_edit(i) for i in reading.items)
            skipped = [strip_fillers(t) or t for t in reading.unsupported + reading.skipped
                       if not _GREETING.match(_EDGE_PUNCT.sub("", t))]  # "great! now denoise the sky"
            return EditPlan(edits=edits, message=_partial(edits, skipped) if skipped else None)
        if reading.strength_only and reading.carry is not None:
            if previous is not None and previous.edits:
                return apply_strength(previous, reading.carry)
            return _strength_question(bare)
        if reading.unsupported:
            request = strip_fillers(reading.unsupported[0]) or bare
            return _reply(voc.UNSUPPORTED_MESSAGE.format(request=request))
        return _reply(voc.NOT_UNDERSTOOD_MESSAGE)

    @staticmethod
    def _template(m: re.Match[str]) -> EditPlan:
        region, _ = clean_target(m.group("region"))
        region = region if region not in (None, "it", "them") else IMAGE
        outer = "bokeh" if m.group("mode") != "clear" else "restore"
        edits = (_to_edit(_Item(region, "restore", parse_number(m.group("s1").rstrip(",")))),
                 _to_edit(_Item(BACKGROUND, outer, parse_number(m.group("s2").rstrip(",")))))
        return EditPlan(edits=edits)


def _strength_question(bare: str) -> EditPlan:
    """A strength with no instruction and no earlier plan: ask what it is for."""
    example = bare if bare.split()[0] in ("with", "at") or not bare[:1].isdigit() else f"with {bare}"
    return _reply(voc.STRENGTH_ONLY_MESSAGE.format(request=bare, example=example))


def _partial(edits: tuple[Edit, ...], skipped: list[str]) -> str:
    """"I understood denoise face at fidelity 1.5; I did not understand “make it purple” …"."""
    understood = ", ".join(
        f"“{e.action} {e.target}" + ("”" if e.fidelity is None else f" at fidelity {e.fidelity:g}”")
        for e in edits)
    return voc.PARTIAL_MESSAGE.format(understood=understood, skipped=", ".join(f"“{t}”" for t in skipped))


def _to_edit(item: _Item) -> Edit:
    return Edit(item.target, item.action, item.fidelity)  # type: ignore[arg-type]
