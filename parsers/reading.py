"""Free wording for the rule parser: clauses, targets and clause groups → edit items.

``read_message`` splits a normalised message into sentences and clauses, reads each clause as
``[verb] [target] [adjective]`` plus a strength, and collects the edits it names (step 4 in the
``parsers.rules`` docstring). Region names come from ``parsers.targets``, whole-clause idioms
(protective clauses, shared actions, action nouns) from ``parsers.idioms``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from parsers import vocabulary as voc
from parsers.idioms import (
    _ACTION_NOUN_TABLE,
    _GIVE,
    _NEEDS,
    _NOUN_ADJ,
    _NOUN_ON,
    _NOUNS_REMOVAL,
    _OUT_OF,
    _PROTECT,
    _RAISE,
    _RAISE_TABLE,
)
from parsers.plan import BACKGROUND, IMAGE
from parsers.targets import (
    _BACKGROUND,
    _IMAGE,
    _UNSUPPORTED_VERB,
    clean_target,
    strip_fillers,
)
from parsers.text import _rx, _take_strength

# -- clause grammar --------------------------------------------------------------------------
_SENTENCES = _rx(r"[!?;]+|\.+(?=\s|$)")
_CLAUSES = _rx(r"\s*(?:,(?!\d)|(?<!\d),)\s*|\s+(?:and then|and also|and|then|while|plus|as well as|"
               r"whereas)\s+|\s+(?=(?:but|except|apart from|other than|excluding|save for|without)\b)|"
               r"\s+(?=so(?: that)? (?:it|they) (?:still )?(?:looks?|stays?|remains?)\b)")
_BETWEEN = _rx(r"\bbetween (\S+(?: \S+){0,3}?) and\b")
_ALL_BUT = _rx(r"\b(everything|all|the whole (?:image|photo|picture)|the (?:image|photo|picture)) "
               r"but\b(?! not\b)(?! (?:do not|never|keep|keeping|preserve|retain|maintain|protect|leave|make|"
               r"go|be|without|not too|try|please|i|also|just|then|sharpen|denoise|restore|remove)\b)")
_JUST = _rx(r"^(?:just|simply) ")
_ONLY_INTENSITY = _rx(rf"\b(?:only|just) (?={voc.alt(voc.INTENSITY)}\b)")
_ONLY = _rx(r"(?:^|\s)(?:only|just(?= (?:the|my|his|her|their|our|your|this|that|these|those|a|an) ))"
            r"(?=\s|$)|,? ?(?:and |but )?nothing else$")
_EXCLUDE = _rx(r"^(?:but )?(?:not|except(?: for)?|apart from|other than|excluding|save for|without"
               r"(?: (?:touching|changing|affecting|restoring|modifying|processing|editing))?)(?: |$)")
_NEGATION = _rx(r"^(?:do not|never|no need to|dont) ")
_NEGATABLE = _rx(rf"^{voc.NEGATABLE}(?= |$)")
_PREFIXES = [(_rx(rf"^(?:{src})(?= |$)"), kind, actions) for src, kind, actions in voc.PREFIXES]
_SUFFIX_TABLE = [(_rx(src), actions) for src, actions in voc.SUFFIXES.items()]
_SUFFIX_ALT = voc.alt(voc.SUFFIXES)
_SUFFIX = _rx(rf"(?:^|(?<=\s))(?:(?:to be|to look|be|look|looking|become|to become|get|should be|should look|"
              rf"needs? to be|needs? to look|must be|has to be|have to be|could be) )?(?:more )?"
              rf"(?P<s>{_SUFFIX_ALT}|{voc.UNSUPPORTED_ADJECTIVES})$")
_SUFFIX_ALONE = _rx(rf"(?:and )?(?:{_SUFFIX_ALT})")
_UNSUPPORTED_ADJ = _rx(voc.UNSUPPORTED_ADJECTIVES)
_LEADING_TABLE = [(_rx(src), actions) for src, actions in voc.LEADING_ADJECTIVES.items()]
_LEADING_ADJ = _rx(rf"^(?:(?:an?|the|some) )?(?P<s>{voc.alt(voc.LEADING_ADJECTIVES)}) "
                   r"(?P<t>(?!(?:and|or|but|with|on|in)\b).+)$")
_DEG_TABLE = [(_rx(src), actions) for src, actions in voc.DEGRADATIONS.items()]
_NOUN_TABLE = [(_rx(src), actions) for src, actions in voc.DEGRADATION_NOUNS.items()]
_DEG = voc.alt(voc.DEGRADATIONS)
_NOUN = voc.alt(voc.DEGRADATION_NOUNS)
_QUANT = r"(?:the|some|a lot of|lots of|too much|so much|much|less|no|no more|all the|any|visible)"
_WHERE = r"(?:in|on|around|at|over|across|of|from)"
_PREDICATES = [
    _rx(rf"^(?P<t>.+?)(?:'s| {voc.COPULA})(?: {voc.PREDICATE_ADVERBS})* (?P<d>{_DEG})$"),
    _rx(rf"^(?:(?:{voc.COPULA}|still|too|also) )?(?:{voc.PREDICATE_ADVERBS} )*(?P<d>{_DEG})$"),
    _rx(rf"^(?:there (?:is|are|was|were)|i (?:can )?(?:see|notice)|i am seeing)(?: {voc.PREDICATE_ADVERBS})*"
        rf"(?: {_QUANT})? (?P<n>{_NOUN})(?: {_WHERE} (?P<t>.+))?$"),
    _rx(rf"^(?P<t>.+?) (?:has|have|has got|shows?|contains?)(?: {voc.PREDICATE_ADVERBS})*(?: {_QUANT})?"
        rf" (?P<n>{_NOUN})$"),
    _rx(rf"^(?:{_QUANT} )?(?P<n>{_NOUN})(?: {_WHERE} (?P<t>.+))?$"),
]
_GREETING = _rx(rf"{voc.GREETINGS}(?:,? {voc.GREETINGS})*[.!]*")
_NOUN_LIST = _rx(rf"^(?:(?:and|or|also|as well as|plus) )?(?:(?:{_QUANT}|both|either) )?(?P<n>{_NOUN})"
                 rf"(?: (?:{_WHERE}|off) (?P<t>.+))?$")
_REMOVAL = _rx(rf"^{voc.REMOVE_VERBS} ")
_NOUN_PHRASE = _rx(rf"^(?:{_QUANT} )?(?:{_NOUN})(?: {_WHERE} .+)?$")  # "the noise in the sky"
_PARTICLE = _rx(r" (?:up|out)$| (?:at all|anything|in any way)$|(?: back)?(?: to (?:the |its |their |"
                r"how it was|the way it was)(?:original|initial|unedited)?(?: (?:state|look|version|"
                r"colou?rs?))?)?$")
_NP_START = _rx(r"^(?:the|a|an|my|his|her|their|our|your|this|that|these|those|all|both|every|each)\b")


def _lookup(table: list[tuple[re.Pattern[str], tuple[str, ...]]], text: str) -> tuple[str, ...]:
    return next((actions for regex, actions in table if regex.fullmatch(text)), ())


@dataclass
class _Chunk:
    """One clause. kind: action | make | keep | bare | exclude | unsupported | empty."""

    text: str
    kind: str = "bare"
    actions: tuple[str, ...] = ()  # the verb's actions
    target: str | None = None  # raw target words, cleaned later
    suffix: tuple[str, ...] = ()  # actions named by an adjective after the target ("sharper")
    hint: tuple[str, ...] = ()  # actions a described degradation asks for ("looks noisy")
    strength: float | None = None
    lead: bool = False  # the strength came before the verb: it covers the whole group
    number: bool = False  # the strength is a user-given number, not an intensity word
    removal: bool = False  # "remove …": degradation nouns listed after it share the verb
    nominal: bool = False  # "the sky needs denoising": action nouns listed after it share the region


def _split_suffix(text: str) -> tuple[str | None, tuple[str, ...], bool]:
    """"the dog sharper" → ("the dog", ("deblur",), False); the bool flags "purple" & co."""
    m = _SUFFIX.search(text)
    if not m:
        return text or None, (), False
    rest = text[: m.start()].strip() or None
    if _UNSUPPORTED_ADJ.fullmatch(m.group("s")):
        return rest, (), True
    return rest, _lookup(_SUFFIX_TABLE, m.group("s")), False


def _read_predicate(text: str) -> tuple[str | None, tuple[str, ...]] | None:
    for regex in _PREDICATES:
        if m := regex.match(text):
            found = m.groupdict()
            if found.get("d"):
                return found.get("t"), _lookup(_DEG_TABLE, found["d"])
            return found.get("t"), _lookup(_NOUN_TABLE, found["n"])
    return None


def _read_chunk(raw: str, state: _Reading, after: _Chunk | None = None) -> _Chunk:
    text = _ONLY_INTENSITY.sub("", raw)  # "only slightly" is an intensity, not an exclusion
    was_only = state.only
    if _ONLY.search(text):
        state.only, text = True, " ".join(_ONLY.sub(" ", text).split())
    text, strength, lead, is_number, relative = _take_strength(strip_fillers(text))
    state.relative = state.relative or relative
    text = _JUST.sub("", strip_fillers(text))
    if m := _NOUN_ADJ.match(text):  # "make the bokeh stronger" → "stronger bokeh"
        strength = _take_strength(f"{m.group('a')} {m.group('n')}")[1] if strength is None else strength
        text = m.group("n") + (f" on {m.group('t')}" if m.group("t") else "")
    if m := _GIVE.match(text):  # "give the background more bokeh" → "bokeh on the background"
        noun = m.group("n")
        noun = "cleanup" if noun in ("clean", "scrub", "polish", "once-over", "going-over") else noun
        text = f"{noun} on {m.group('t')}"
    chunk = _Chunk(text=raw, strength=strength, lead=lead, number=is_number)
    if after is not None and after.removal and (m := _NOUN_LIST.match(text)):
        # "remove noise and jpeg artifacts from the sky": the verb and the region are shared
        chunk.kind, chunk.actions, chunk.removal = "action", _lookup(_NOUN_TABLE, m.group("n")), True
        chunk.target = m.group("t") or ("it" if after.target else None)
    elif m := _NEEDS.match(text):  # "the sky needs denoising (and sharpening)"
        chunk.kind, chunk.target, chunk.nominal = "action", m.group("t"), True
        chunk.actions = _lookup(_ACTION_NOUN_TABLE, m.group("n"))
    elif m := _RAISE.match(text) or _NOUN_ON.match(text):  # "crank up the sharpness on the face"
        chunk.kind, chunk.target = "action", m.group("t")
        chunk.actions = _lookup(_ACTION_NOUN_TABLE, m.group("n") or m.group("n2"))
        verb = m.groupdict().get("v") or (m.groupdict().get("v2") and m.group("v2") + " " + m.group("p"))
        if verb and chunk.strength is None:
            chunk.strength = next((value for regex, value in _RAISE_TABLE if regex.fullmatch(verb)),
                                  voc.MORE_INTENSITY)
    elif m := _PROTECT.match(text):  # "but keep skin texture", "without losing the grain on the border"
        chunk.kind, chunk.target = "protect", m.group("t") or m.group("t2") or m.group("tp")
        state.only = was_only  # "keep the grain only on the edges" leaves the rest as it was
        chunk.suffix = ("quality",) if m.group("q") or m.group("qp") else ()
    elif m := _EXCLUDE.match(text):
        chunk.kind, chunk.target = "exclude", text[m.end():] or None
    elif not text:
        chunk.kind = "empty"
    elif m := _NEGATION.match(text):
        rest = text[m.end():]
        verb = _NEGATABLE.match(rest) or next((p.match(rest) for p, _, _ in _PREFIXES if p.match(rest)), None)
        chunk.kind, chunk.actions = ("action", ("keep",)) if verb else ("unsupported", ())
        chunk.target = _strip_target_tail(rest[verb.end():]) if verb else None
    elif prefix := next(((p, m, k, a) for p, k, a in _PREFIXES if (m := p.match(text))), None):
        _, m, chunk.kind, chunk.actions = prefix
        rest = text[m.end():].strip()
        chunk.removal = chunk.kind == "action" and "keep" not in chunk.actions and bool(_REMOVAL.match(text))
        if chunk.kind == "action":
            chunk.target = _strip_target_tail(rest) or None
            if chunk.target is None and after is not None and after.nominal:
                chunk.target, chunk.nominal = "it", True  # "the sky needs denoising and sharpening"
        else:
            chunk.target, chunk.suffix, unsupported = _split_suffix(rest)
            chunk.kind = "unsupported" if unsupported else chunk.kind
    elif (pred := _read_predicate(text)) is not None:
        chunk.target, chunk.hint = pred[0] or "it", pred[1]
        if not is_number and not _NOUN_PHRASE.match(text):
            chunk.strength = None  # "a bit noisy" describes the photo, it is not a strength
    elif m := _UNSUPPORTED_VERB.match(text):
        chunk.kind, chunk.target = "unsupported", text[m.end():].strip() or None
    elif (m := _LEADING_ADJ.match(text)) and (_lookup(_LEADING_TABLE, m.group("s")) != ("bokeh",)
                                              or _BACKGROUND.fullmatch(m.group("t"))):
        chunk.target, chunk.suffix = m.group("t"), _lookup(_LEADING_TABLE, m.group("s"))  # "sharp eyes"
    else:
        chunk.target, chunk.suffix, unsupported = _split_suffix(text)
        chunk.kind = "unsupported" if unsupported else "bare"
    return chunk


def _strip_target_tail(text: str) -> str:
    return _PARTICLE.sub("", text).strip()


# -- targets ---------------------------------------------------------------------------------
@dataclass
class _Item:
    target: str
    action: str
    fidelity: float | None
    explicit: bool = True  # False when "restore" was only the default for a bare noun phrase
    hint: bool = False  # asked for by describing a degradation
    exclusion: bool = False


@dataclass
class _Reading:
    """What a message says, before it becomes an EditPlan."""

    items: list[_Item] = field(default_factory=list)
    only: bool = False
    unsupported: list[str] = field(default_factory=list)
    last: list[str] = field(default_factory=list)  # targets of the last clause group
    named: list[str] = field(default_factory=list)  # every target so far, for "them" / "both"
    carry: float | None = None  # a strength with nothing to attach to yet
    strength_only: bool = False  # the message is only a strength ("with 0.5", "strongly")
    relative: bool = False  # a strength came from a comparative ("even blurrier", "more bokeh")
    skipped: list[str] = field(default_factory=list)  # clauses that named nothing to restore


def _resolve(raw: str | None, actions: tuple[str, ...], state: _Reading) -> tuple[list[str], tuple[str, ...]]:
    if raw is None:
        if actions == ("keep",):
            return [], ()
        return [BACKGROUND if actions == ("bokeh",) else IMAGE], ()
    target, hints = clean_target(raw)
    if target == "it":
        return (state.last[-1:] or [IMAGE]), hints
    if target == "them":  # "fix them": the last group, or everything named if that was one
        return (state.last if len(state.last) > 1 else state.named or [IMAGE]), hints
    return ([target] if target else []), hints


def _emit(state: _Reading, target: str, action: str, fidelity: float | None, *, explicit: bool = True,
          hint: bool = False, hints: tuple[str, ...] = (), exclusion: bool = False) -> None:
    if action == "keep":
        fidelity = None
    generic = [item for item in state.items if item.target == target and item.action == "restore"
               and not item.hint]
    if hint and action != "restore" and generic:  # "restore the face, it is blurry" → deblur
        generic[0].action, generic[0].hint = action, True
        return
    if action == "restore" and not hint:
        described = [item for item in state.items if item.target == target and item.hint]
        if described:  # "the grass looks noisy, clean it up" → the clean-up is the denoise
            for item in described:
                item.fidelity = fidelity if fidelity is not None else item.fidelity
            return
        if hints and hints != ("restore",):  # "fix the blurry face" → deblur
            for hinted in hints:
                _emit(state, target, hinted, fidelity, explicit=explicit)
            return
    state.items.append(_Item(target, action, fidelity, explicit, hint, exclusion))


# -- clause groups ---------------------------------------------------------------------------
def _adjective(chunks: list[_Chunk], i: int) -> tuple[tuple[str, ...], bool]:
    """The adjective actions for chunk i: its own, else the next one's, else the previous."""
    for c in [chunks[i], *chunks[i + 1:], *reversed(chunks[:i])]:
        if c.suffix or c.hint:
            return (c.suffix or c.hint), not c.suffix
    return (), False


def _read_group(chunks: list[_Chunk], pending: list[tuple[str, float | None]], state: _Reading) -> None:
    """Items for one verb and the clauses that continue it ("restore the dog and the cat")."""
    head = chunks[0]
    if head.kind == "unsupported":  # "sharpen and brighten the face": the sharpening still applies
        state.unsupported.append(head.text)
        targets = _resolve(head.target, ("restore",), state)[0] if pending and head.target else []
        for target in targets:
            for action, fid in pending:
                _emit(state, target, action, fid)
        return
    if head.kind == "protect":
        _protect(head, state)
        return
    own = [c.strength for c in chunks]
    if len(chunks) > 1 and own[-1] is not None and all(s is None for s in own[:-1]):
        shared = own[-1]  # "restore the dog and the cat with 0.5": both
    else:
        shared = head.strength if head.lead else None  # "strongly restore the dog and the cat"
    shared, state.carry = (shared if shared is not None else state.carry), None
    accepted, new_last = True, []
    for i, c in enumerate(chunks):
        if c.target is None and len(chunks) > 1:
            continue  # a verb-only head followed by its objects
        fid = c.strength if c.strength is not None else shared
        adjective, is_hint = _adjective(chunks, i)
        explicit = True
        if head.kind == "exclude":
            actions, is_hint = ("keep",), False
        elif head.kind == "action":
            actions, is_hint = head.actions, False
        elif head.kind == "make":
            actions, is_hint = adjective, False
        elif head.kind == "keep":  # "keep other parts with 0.8" (demo.sh) sets their fidelity
            actions = adjective or (("restore",) if c.number else ("keep",))
            is_hint = False
        else:  # bare noun phrases: "the dog with 0.5 and the grass with 1.2", "the sky is noisy"
            if i == 0:
                accepted = bool(adjective or fid is not None or state.only or c.target is None
                                or _NP_START.match(c.target) or _IMAGE.fullmatch(c.target))
            actions, explicit = (adjective, True) if adjective else (("restore",), False)
        if not accepted:
            state.skipped.append(c.text)
            continue
        if not actions:
            state.unsupported.append(c.text)
            continue
        raw = c.target
        if raw is None and actions == ("restore",) and any(item.hint for item in state.items):
            raw = "it"  # "the text is pixelated, please fix" → the text
        targets, hints = _resolve(raw, actions, state)
        for target in targets:
            for action, pending_fid in pending:
                _emit(state, target, action, pending_fid if pending_fid is not None else fid)
            for action in actions:
                _emit(state, target, action, fid, explicit=explicit, hint=is_hint, hints=hints,
                      exclusion=head.kind == "exclude")
        if targets:  # progressively, so "the sky is noisy and blurry" finds the sky
            new_last += targets
            state.last = list(dict.fromkeys(new_last))
            state.named = list(dict.fromkeys(state.named + targets))


def _protect(chunk: _Chunk, state: _Reading) -> None:
    """"keep skin texture" / "not too much": a gentler fidelity for the region, not a new region.

    The region is the one named in the clause ("keep the grain on the film border"), else the last
    one named. Its restoring edits without a strength get ``PROTECT_FIDELITY``; a strength the user
    gave stays. A region with no edit yet gets the message's last restoring action.
    """
    fid = chunk.strength if chunk.strength is not None else voc.PROTECT_FIDELITY
    if not chunk.target and not chunk.suffix and not state.items:
        state.carry = fid  # "not too much" with nothing before it: a strength, not an instruction
        return
    targets = _resolve(chunk.target, ("restore",), state)[0] if chunk.target else (state.last or [IMAGE])
    restoring = [item for item in state.items if item.action in voc.RESTORING]
    for target in targets:
        found = [item for item in restoring if item.target == target]
        for item in found:
            item.fidelity = fid if item.fidelity is None else item.fidelity
        if not found:
            action = restoring[-1].action if restoring else "restore"
            state.items.append(_Item(target, action, fid))
    if targets:
        state.last = targets
        state.named = list(dict.fromkeys(state.named + targets))


def _read_sentence(sentence: str, state: _Reading) -> None:
    sentence = _ALL_BUT.sub(r"\1 except", _BETWEEN.sub(r"between \1 _and_", sentence))
    sentence = _OUT_OF.sub(r"remove \g<l> from ", sentence)  # "take the noise and blur out of the sky"
    sentence = _NOUNS_REMOVAL.sub(r"remove \g<a>\g<b> from ", sentence)  # "noise and blur removal on X"
    chunks: list[_Chunk] = []
    for raw in _CLAUSES.split(sentence):
        raw = raw.replace("_and_", "and").strip()
        if chunks and chunks[-1].suffix and _SUFFIX_ALONE.fullmatch(raw):  # "sharp and clean"
            chunks[-1].suffix += _lookup(_SUFFIX_TABLE, raw.removeprefix("and "))
        elif raw and not _GREETING.fullmatch(raw):  # "perfect, now the sky"
            chunks.append(_read_chunk(raw, state, chunks[-1] if chunks else None))
    groups: list[tuple[list[_Chunk], list[tuple[str, float | None]]]] = []
    pending: list[tuple[str, float | None]] = []
    lead_strength: float | None = None
    for i, c in enumerate(chunks):
        if c.kind == "empty":
            if c.strength is not None and groups:
                for g in groups[-1][0]:
                    g.strength = c.strength if g.strength is None else g.strength
            elif c.strength is not None:
                state.carry = c.strength
            continue
        nxt = chunks[i + 1] if i + 1 < len(chunks) else None
        if (c.kind == "action" and c.target is None and nxt is not None and nxt.kind in ("action", "make",
                                                                                          "unsupported")
                and (nxt.kind == "make" or set(nxt.actions) <= set(voc.RESTORING))
                and set(c.actions) <= set(voc.RESTORING)):
            if not pending and c.lead and c.strength is not None:
                lead_strength = c.strength  # "really sharpen and denoise the face": both
            pending += [(a, c.strength) for a in c.actions]  # "denoise and sharpen the cat"
            continue
        head = groups[-1][0][0] if groups else None
        if (head is None or c.kind != "bare" or (c.hint and head.kind != "bare")
                or (c.suffix and head.kind == "action")):
            if pending and lead_strength is not None and c.strength is None:
                c.strength, c.lead = lead_strength, True
            lead_strength = None
            groups.append(([c], pending))
            pending = []
        else:
            groups[-1][0].append(c)
    for group_chunks, group_pending in groups:
        _read_group(group_chunks, group_pending, state)


def read_message(text: str) -> _Reading:
    """Free wording → items (no commands, templates or refinements). Raises InstructionError."""
    state = _Reading()
    for sentence in _SENTENCES.split(text):
        if sentence.strip():
            _read_sentence(sentence.strip(), state)
    state.strength_only = not state.items and state.carry is not None
    if all(item.exclusion for item in state.items):
        state.items = []  # "not bad" is not an instruction
    merged: dict[tuple[str, str], _Item] = {}
    for item in state.items:
        key = (item.target, item.action)
        if key in merged:
            merged[key].fidelity = item.fidelity if item.fidelity is not None else merged[key].fidelity
        else:
            merged[key] = item
    state.items = list(merged.values())
    if state.only and state.items and not any(i.target in (BACKGROUND, IMAGE) for i in state.items):
        state.items.append(_Item(BACKGROUND, "keep", None))
    return state

