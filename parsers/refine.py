"""Refinements of the previous EditPlan for the rule parser (step 3 in ``parsers.rules``).

"stronger", "a bit less on the sky", "more on the dog", "also the sky", "the sky too", "same but
0.8 on the dog", "drop the dog": ``refine`` returns the full adjusted plan with ``changes`` saying
what changed, a reply, or None when the message is not a refinement. Step sizes are in the
``parsers.vocabulary`` docstring.
"""

from __future__ import annotations

from parsers import vocabulary as voc
from parsers.idioms import _PROTECT
from parsers.plan import BACKGROUND, FIDELITY_MAX, FIDELITY_MIN, FIDELITY_NEUTRAL, IMAGE, Edit, EditPlan
from parsers.reading import _NOUN, _PREFIXES, _Item, read_message
from parsers.targets import clean_target, strip_fillers
from parsers.text import NOT_A_NUMBER, _rx, parse_number


def _reply(message: str) -> EditPlan:
    return EditPlan(message=message)


# -- refinements of the previous plan -------------------------------------------------------
_MOD = voc.alt(voc.STEP_MODIFIERS)
_DIR = voc.alt(voc.STRONGER + voc.WEAKER)
_STRONGER = _rx(voc.alt(voc.STRONGER))
_NUMTOK = rf"(?P<num>\S*[\d%]\S*|{NOT_A_NUMBER})"
_STRENGTH_WORD = r"(?:(?:a )?(?:fidelity|strength) (?:of |[:=] )?)?"
_REFINE_CLAUSES = [
    ("delta", _rx(rf"^(?:(?:make|do|go|try|apply|be|push|turn|crank|dial|tone) (?:it |that |this |them )?)?"
                  rf"(?:(?P<m1>{_MOD}) )?(?P<dir>{_DIR})(?: (?P<m2>{_MOD}))?"
                  rf"(?: (?:on|for|to|in|with|of|at) (?P<target>.+?))?(?: (?P<m3>{_MOD}))?$")),
    ("delta", _rx(rf"^(?:make )?(?P<target>.+?) (?:(?:is|are|looks?|seems?) )?(?:(?P<m1>{_MOD}) )?"
                  rf"(?P<dir>{_DIR})(?: (?P<m2>{_MOD}))?$")),
    ("set", _rx(rf"^(?:(?:use|set|try|put|apply|give|go with) )?{_STRENGTH_WORD}{_NUMTOK} (?:on|for|to|in)"
                r" (?P<target>.+)$")),
    ("set", _rx(rf"^(?:set|change|put|make|turn) (?P<target>.+?) (?:to|at) {_STRENGTH_WORD}{_NUMTOK}$")),
    ("set", _rx(rf"^(?:(?:use|try|set it to|set to|with|at|go with|make it|set it at) )?{_STRENGTH_WORD}"
                rf"(?P<num>[+-]?[\d.,%e]*\d[\d.,%e]*|\S*%|{NOT_A_NUMBER})$")),
    ("drop", _rx(r"^(?:but )?(?:not|without|drop|skip|forget(?: about)?|leave out|exclude|never mind)"
                 r" (?P<target>.+)$")),
    ("drop", _rx(r"^leave (?P<target>.+?) out$")),
    ("undo", _rx(rf"^(?:undo|revert|cancel|remove|drop|take back|get rid of|no) (?:the |that |my |your )?"
                 rf"(?P<n>{voc.alt(voc.ACTION_NOUNS)})(?: (?:on|of|for|in|to) (?P<target>.+))?$")),
]
_SAME = _rx(r"^(?:(?:the )?same(?: thing| again| as before| plan| as last time)?|like before|as before|"
            r"again|do it again|repeat(?: that| it)?),?(?: (?:but|with|except|and|only|just))? (?P<rest>.+)$")
_ALSO = _rx(r"^(?:and also|also|and|plus|additionally|as well as|in addition|now|and now|next|then),? "
            r"(?P<rest>.+)$")
_TOO = _rx(rf"^(?P<rest>.+?),? {voc.TRAIL_ADDITION}$")
_REFINE_SPLIT = _rx(rf"\s*(?:;|,(?!\d)|(?<!\d),)\s*|\s+(?:and|but)\s+"
                    rf"(?=(?:{_MOD} )?{_DIR}\b|\S*\d|not |without |drop |skip )")
_TARGET_SPLIT = _rx(r"\s*,\s*|\s+and\s+")
_WHOLE = (None, "it", "them", IMAGE)
_NOUN_ONLY = _rx(_NOUN)
_ACTION_ONLY = _rx(rf"(?:(?:the|your|my) )?(?P<n>{voc.alt(voc.ACTION_NOUNS)})")  # "the bokeh", "the blur"
_ACTION_NOUN_TABLE = [(_rx(src), actions) for src, actions in voc.ACTION_NOUNS.items()]
#: A refinement target that names an action instead of a region: "@bokeh" = the plan's bokeh edits.
_ACTION_MARK = "@"


def _refine_targets(raw: str | None) -> list[str | None] | None:
    """Targets named in a refinement clause; [None] = the whole plan; None = not targets."""
    if raw is None:
        return [None]
    targets: list[str | None] = []
    for part in _TARGET_SPLIT.split(raw):
        if m := _ACTION_ONLY.fullmatch(part):  # "make the bokeh stronger": the plan's bokeh edits
            actions = next(a for regex, a in _ACTION_NOUN_TABLE if regex.fullmatch(m.group("n")))
            targets.append(_ACTION_MARK + actions[0])
            continue
        target, _ = clean_target(part)
        if target is None or any(p.match(part) for p, _, _ in _PREFIXES):
            return None
        targets.append(None if target in _WHOLE else target)
    return targets


def _refine_clause(text: str) -> tuple[str, list[str | None], float] | None:
    """("delta", targets, step) | ("set", targets, value) | ("drop", targets, 0) or None."""
    for kind, regex in _REFINE_CLAUSES:
        if not (m := regex.match(text)):
            continue
        targets = _refine_targets(m.group("target") if "target" in regex.groupindex else None)
        if targets is None:
            continue
        if kind == "set":
            return kind, targets, parse_number(m.group("num"))
        if kind == "undo":  # "undo the sharpening on the face": that action's edits there
            actions = next(a for regex, a in _ACTION_NOUN_TABLE if regex.fullmatch(m.group("n")))
            return f"undo:{actions[0]}", targets, 0.0
        if kind == "drop":  # "without the noise" names a degradation, not a region to drop
            named = None not in targets and not any(_NOUN_ONLY.fullmatch(t or "") for t in targets)
            return (kind, targets, 0.0) if named else None
        mod = m.group("m1") or m.group("m2") or (m.groupdict().get("m3"))
        step = voc.STEP_MODIFIERS[mod] if mod else voc.STEP_DEFAULT
        return kind, targets, -step if _STRONGER.fullmatch(m.group("dir")) else step
    return None


def _clamp(value: float) -> float:
    return min(max(round(value, 2), FIDELITY_MIN), FIDELITY_MAX)


def _fmt(fidelity: float | None) -> str:
    return f"auto ({FIDELITY_NEUTRAL:g})" if fidelity is None else f"{fidelity:g}"


class _Refinement:
    """A working copy of the previous plan plus notes on what changed."""

    def __init__(self, previous: EditPlan) -> None:
        self.edits, self.notes = list(previous.edits), []

    def label(self, i: int) -> str:
        edit = self.edits[i]
        twice = sum(e.target == edit.target for e in self.edits) > 1
        return f"{edit.target} ({edit.action})" if twice else edit.target

    def find(self, target: str | None, actions: tuple[str, ...]) -> list[int]:
        if target is not None and target.startswith(_ACTION_MARK):
            return [i for i, e in enumerate(self.edits) if e.action == target[1:]]
        chosen = [i for i, e in enumerate(self.edits) if e.action in actions]
        if target is None:
            return chosen
        exact = [i for i in chosen if self.edits[i].target == target]
        return exact or [i for i in chosen if self.edits[i].target.startswith(target + " ")]

    def insert(self, edit: Edit) -> None:
        """Add before the trailing background edits; keep replaces, and is replaced by, others."""
        for i in reversed(range(len(self.edits))):
            old = self.edits[i]
            if old.target == edit.target and "keep" in (old.action, edit.action):
                self.notes.append(f"removed {self.label(i)}")
                del self.edits[i]
        at = len(self.edits)
        while edit.target != BACKGROUND and at and self.edits[at - 1].target == BACKGROUND:
            at -= 1
        self.edits.insert(at, edit)
        how = edit.action if edit.action == "keep" else f"{edit.action}, fidelity {_fmt(edit.fidelity)}"
        self.notes.append(f"added {edit.target} ({how})")

    def set(self, i: int, fidelity: float | None, clamp_note: str = "") -> None:
        old = self.edits[i]
        if fidelity != old.fidelity:
            change = f"{_fmt(old.fidelity)} → {_fmt(fidelity)}{clamp_note}"
            self.notes.append(f"fidelity of {self.label(i)} {change}")
            self.edits[i] = Edit(old.target, old.action, fidelity)

    def shift(self, target: str | None, step: float) -> None:
        found = self.find(target, voc.RESTORING)
        if target is not None and target.startswith(_ACTION_MARK) and not found:
            action = target[1:]
            where = BACKGROUND if action == "bokeh" else IMAGE
            self.insert(Edit(where, action, _clamp(FIDELITY_NEUTRAL + step)))  # type: ignore[arg-type]
        elif target is not None and not found:
            self.insert(Edit(target, "restore", _clamp(FIDELITY_NEUTRAL + step)))
        for i in found:
            base = self.edits[i].fidelity
            wanted = round((FIDELITY_NEUTRAL if base is None else base) + step, 2)
            new = _clamp(wanted)
            if new == base:
                self.notes.append(f"fidelity of {self.label(i)} is already {base:g}, the limit of the valid "
                                  f"range {FIDELITY_MIN:g}–{FIDELITY_MAX:g}")
            self.set(i, new, f" (clamped to the valid range {FIDELITY_MIN:g}–{FIDELITY_MAX:g})"
                     if new != wanted else "")

    def assign(self, target: str | None, value: float) -> None:
        found = self.find(target, (*voc.RESTORING, "bokeh") if target else voc.RESTORING)
        if target is not None and not found:
            self.insert(Edit(target, "restore", value))
        for i in found:
            self.set(i, value)

    def drop(self, target: str) -> bool:
        found = self.find(target, voc.ACTIONS)
        for i in reversed(found):
            self.notes.append(f"removed {self.label(i)}")
            del self.edits[i]
        return bool(found)

    def merge(self, items: list[_Item]) -> None:
        """Add what a fresh reading names; "also the sky" copies the last region's treatment."""
        last = next((e for e in reversed(self.edits) if e.action in voc.RESTORING and e.target not in
                     (IMAGE, BACKGROUND)), None) or next((e for e in reversed(self.edits)
                                                          if e.action in voc.RESTORING), None)
        for item in items:
            same = [i for i, e in enumerate(self.edits) if e.target == item.target
                    and (e.action == item.action or not item.explicit) and e.action != "keep"]
            if same:
                for i in same:
                    self.set(i, item.fidelity if item.fidelity is not None else self.edits[i].fidelity)
            elif item.explicit:
                self.insert(Edit(item.target, item.action, item.fidelity))  # type: ignore[arg-type]
            else:
                action, fid = (last.action, last.fidelity) if last else ("restore", None)
                self.insert(Edit(item.target, action, item.fidelity if item.fidelity is not None else fid))

    def result(self, previous: EditPlan) -> EditPlan:
        if tuple(self.edits) == previous.edits:
            said = "; ".join(self.notes) or "the previous plan already does that"
            return _reply(f"Nothing to change: {said}.")
        if not self.edits:
            return _reply("That leaves nothing to restore. " + voc.NOT_UNDERSTOOD_MESSAGE.split(". ", 1)[1])
        return EditPlan(edits=tuple(self.edits), changes="; ".join(self.notes))


def adjust_relative(previous: EditPlan, items: list[_Item]) -> EditPlan | None:
    """"make the background even blurrier" after a plan that blurs it: a step on that edit.

    Only when every item names an edit the previous plan already has (same target and action);
    the step is ``RELATIVE_STEPS`` of the comparative's fresh value ("even" → 0.75 → one step
    stronger, "a bit more" → a small step stronger).
    None otherwise: the message is a new instruction.
    """
    work = _Refinement(previous)
    found = [[i for i, e in enumerate(work.edits) if (e.target, e.action) == (item.target, item.action)]
             for item in items]
    if not items or not all(found):
        return None
    for item, indices in zip(items, found, strict=True):
        step = voc.RELATIVE_STEPS.get(FIDELITY_NEUTRAL if item.fidelity is None else item.fidelity,
                                      -voc.STEP_DEFAULT)
        for i in indices:
            base = work.edits[i].fidelity
            work.set(i, _clamp((FIDELITY_NEUTRAL if base is None else base) + step))
    return work.result(previous)


def merge_keep(previous: EditPlan, items: list[_Item]) -> EditPlan:
    """"leave the sky alone" / "reset the face" after a result: those regions are kept as they
    were, the rest of the previous plan stays."""
    work = _Refinement(previous)
    work.merge(items)
    return work.result(previous)


def apply_strength(previous: EditPlan, value: float) -> EditPlan:
    """"strongly" / "gently" alone after a result: that strength on every restoring edit."""
    work = _Refinement(previous)
    work.assign(None, value)
    return work.result(previous)


def refine(text: str, previous: EditPlan | None, said: str = "") -> EditPlan | None:
    """The adjusted ``previous`` plan, a reply, or None when ``text`` is not a refinement.

    ``text`` is normalised; ``said`` is what the user typed, quoted in replies.
    """
    said = said or text
    kind, body = "plain", text
    if m := _SAME.match(text):
        kind, body = "same", m.group("rest")
    elif m := (_ALSO.match(text) or _TOO.match(text)):
        kind, body = "also", m.group("rest")
    if previous is not None and (m := _PROTECT.match(strip_fillers(body))):
        # "but keep the skin texture" after a result: one step gentler there (or everywhere)
        targets = _refine_targets(m.group("t") or m.group("t2") or m.group("tp")) or [None]
        work = _Refinement(previous)
        for target in targets:
            work.shift(target, voc.STEP_DEFAULT)
        return work.result(previous)
    clauses = [_refine_clause(c) for c in _REFINE_SPLIT.split(body)]
    if all(clauses):
        if previous is None and kind == "plain" and all(c[0] == "set" for c in clauses):  # type: ignore[index]
            return None  # "0.8 on the dog" with nothing before it is a new instruction
        if previous is None and all(t and t.startswith(_ACTION_MARK)
                                    for c in clauses for t in c[1]):  # type: ignore[index]
            return None  # "make the bokeh stronger" with nothing before it asks for strong bokeh
        if previous is None:
            return _reply(voc.NOTHING_TO_ADJUST_MESSAGE.format(request=said))
        work = _Refinement(previous)
        for op, targets, value in clauses:  # type: ignore[misc]
            for target in targets:
                if op == "delta":
                    work.shift(target, value)
                elif op == "set":
                    work.assign(target, value)
                elif op.startswith("undo:"):
                    action = op.split(":", 1)[1]
                    found = [i for i in work.find(target, voc.ACTIONS) if work.edits[i].action == action]
                    if not found:
                        where = f" on {target}" if target else ""
                        have = ", ".join(f"{e.action} {e.target}" for e in previous.edits)
                        return _reply(f"The last plan has no {action}{where} to undo (it has: {have}).")
                    for i in reversed(found):
                        work.notes.append(f"removed {work.label(i)}")
                        del work.edits[i]
                elif not work.drop(target):
                    have = ", ".join(previous.targets)
                    return _reply(f"The last plan has no {target} to leave out (it has: {have}).")
        return work.result(previous)
    if kind == "plain":
        return None
    reading = read_message(body)
    if previous is None:
        if kind == "also" and any(item.explicit for item in reading.items):
            return None  # "also denoise the sky" is a complete instruction on its own
        return _reply(voc.NOTHING_TO_ADJUST_MESSAGE.format(request=said)) if reading.items else None
    if not reading.items:
        return None
    work = _Refinement(previous)
    work.merge(reading.items)
    return work.result(previous)

