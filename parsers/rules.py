"""The default instruction parser: regular expressions over normalised text, no model.

A message is read in this order (the first step that applies wins):

1. Empty or over-long text → no edits and a reply. Commands (the whole message): undo / redo /
   reset / help in natural forms ("go back", "start over", "what can you do?"). Greetings and
   thanks → a reply with example instructions.
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

Strengths: a number after with / at / fidelity / strength / ":" / "=" (".75", "0,5", "75%",
"1"), a trailing decimal ("restore the dog 0.5"), or an intensity word (table in
``parsers.vocabulary``). A number that is malformed or outside [0, 2] raises
``InstructionError``; user numbers are never clamped. "keep" edits carry no fidelity.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field

from parsers import vocabulary as voc
from parsers.base import InstructionParser
from parsers.plan import (
    BACKGROUND,
    FIDELITY_MAX,
    FIDELITY_MIN,
    FIDELITY_NEUTRAL,
    IMAGE,
    Edit,
    EditPlan,
    InstructionError,
    check_fidelity,
)

logger = logging.getLogger(__name__)

#: Longer messages get a reply instead of a parse (keeps the worst-case latency bounded).
MAX_CHARS = 2000


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# -- normalisation ---------------------------------------------------------------------------
_REWRITES = [(_rx(p), r) for p, r in (
    (r"[’‘´`]", "'"), (r"[“”«»\"()\[\]{}<>]", " "), (r"\s*[\r\n]+\s*", " ; "),
    (r"\bwon'?t\b", "will not"), (r"\bcan'?t\b|\bcannot\b", "cannot"),
    (r"\b(do|does|did|is|are|was|were|could|would|should|have|has|must)n'?t\b", r"\1 not"),
    (r"\b(it|that|there|what|here|this|who|how|where)'s\b", r"\1 is"), (r"\bi'm\b", "i am"),
    (r"\b(i|you|we|they|he|she)'d\b", r"\1 would"), (r"\b(i|you|we|they)'ll\b", r"\1 will"),
    (r"\b(i|you|we|they)'ve\b", r"\1 have"), (r"\b(you|we|they)'re\b", r"\1 are"),
    (r"\blet's\b", "let us"), (r"&", " and "), (r"\bw/\s*", "with "),
    (r"([0-9])\s*(?:percent|per cent|pct)\b", r"\1%"), (r"([0-9])\s+%", r"\1%"),
    (r"\s*([:=])\s*", r" \1 "), (r"\bblack and white\b", "black-and-white"),
    (r"\bsalt and pepper\b", "salt-and-pepper"), (r"\b(?:please|pls|plz|kindly)\b", " "),
    (r"\s+", " "), (r"\s+([,.!?;])(?=\s|$)", r"\1"),
)]
_EDGE_PUNCT = _rx(r"^[\s.!?,;:]+|[\s.!?,;:]+$")


def normalize(text: str) -> str:
    """Lower-case, NFKC, straight quotes, expanded contractions, single spaces, no "please"."""
    text = unicodedata.normalize("NFKC", text).lower()
    for pattern, repl in _REWRITES:
        text = pattern.sub(repl, text)
    return text.strip()


# -- strengths -------------------------------------------------------------------------------
_NUMBER = _rx(r"[+-]?(?:[0-9]+(?:[.,][0-9]+)?|[.,][0-9]+)%?")
_NUM_MARKED = _rx(rf"(?:^|(?<=\s)){voc.NUMBER_MARKER} (?P<num>(?=\S*[\d%])\S+)"
                  rf"(?: (?:fidelity|strength|scale|level))?(?=$| {voc.NUMBER_FOLLOWERS}\b)")
_NUM_LEAD = _rx(r"^(?P<num>[+-]?[0-9]*[.,]?[0-9]+%?) (?:on|for|to) ")
_NUM_BARE = _rx(r"(?:^|(?<=\s))(?P<num>[+-]?[0-9]*[.,][0-9]+(?:[.,][0-9]+)*%?|[+-]?[0-9]+%|"
                r"[+-][0-9]+|[+-]?[0-9.]+e[+-]?[0-9]+)$")
_INTENSITY = _rx(rf"(?:^|(?<=\s))(?<!too )(?<!so )(?<!how )(?P<w>{voc.alt(voc.INTENSITY)})"
                 r"(?!\s+(?:of|more|less)\b)(?=\s|$)")
_INTENSITY_ADJ = _rx(rf"(?:^|(?<=\s))(?P<w>{voc.alt(voc.INTENSITY_ADJECTIVES)})(?= (?:noise reduction|"
                     r"denoising|deblurring|sharpening|restoration|enhancement|cleanup|clean-up|bokeh|"
                     r"blur|background blur|jpe?g artifact removal|artifact removal|deblocking|repair|"
                     r"touch|denoise|sharpen|restore|fix))")
_INTENSITY_TABLE = [(_rx(words), value) for words, value in voc.INTENSITY.items()]
_INTENSITY_ADJ_TABLE = [(_rx(words), value) for words, value in voc.INTENSITY_ADJECTIVES.items()]
_MORE_END = _rx(r"(?:^|(?<=\s))more$")
_SPACES = _rx(r"\s+")
_AFTER_LEAD_NUMBER = _rx(r"^(?:on|for|to) ")


def parse_number(token: str) -> float:
    """A user-given strength: "0.5", ".75", "0,5", "75%" (= 0.75), "1". Never clamped."""
    if not _NUMBER.fullmatch(token):
        raise InstructionError(
            f"I could not read the strength {token!r}: use a number in the valid range 0 to 2 "
            "such as 0.5, .75, 0,5 or 75% (1 is neutral, lower restores more strongly)."
        )
    value = float(token.rstrip("%").replace(",", "."))
    if token.endswith("%"):
        value = round(value / 100, 6)
    return check_fidelity(value, source=repr(token))


def _cut(text: str, m: re.Match[str]) -> str:
    return _SPACES.sub(" ", text[: m.start()] + " " + text[m.end():]).strip()


def _take_strength(text: str) -> tuple[str, float | None, bool, bool]:
    """Remove strengths from a clause → (rest, fidelity, at_clause_start, is_number).

    The first number wins over intensity words; every number is validated.
    """
    value, lead, is_number = None, False, False
    for regex in (_NUM_MARKED, _NUM_LEAD, _NUM_BARE):
        while m := regex.search(text):
            number = parse_number(m.group("num"))
            if value is None:
                value, lead, is_number = number, m.start() == 0, True
            text = _cut(text, m)
    for regex, table in ((_INTENSITY, _INTENSITY_TABLE), (_INTENSITY_ADJ, _INTENSITY_ADJ_TABLE)):
        while m := regex.search(text):
            if value is None:
                value, lead = next(v for word, v in table if word.fullmatch(m.group("w"))), m.start() == 0
            text = _cut(text, m)
    if value is None and (m := _MORE_END.search(text)) and text != "more":
        value, text = voc.MORE_INTENSITY, _cut(text, m)
    if lead and is_number:
        text = _AFTER_LEAD_NUMBER.sub("", text)  # "fidelity 0.5 on the dog"
    return text, value, lead, is_number


# -- clause grammar --------------------------------------------------------------------------
_SENTENCES = _rx(r"[!?;]+|\.+(?=\s|$)")
_CLAUSES = _rx(r"\s*(?:,(?!\d)|(?<!\d),)\s*|\s+(?:and then|and also|and|then|while|plus|as well as|"
               r"whereas)\s+|\s+(?=(?:but|except|apart from|other than|excluding|save for|without)\b)")
_BETWEEN = _rx(r"\bbetween (\S+(?: \S+){0,3}?) and\b")
_ALL_BUT = _rx(r"\b(everything|all|the whole (?:image|photo|picture)|the (?:image|photo|picture)) "
               r"but\b(?! not\b)")
_LEAD = _rx(rf"^(?:(?:{voc.POLITE_LEAD}|{voc.CONNECTIVES}),? )+")
_TRAIL = _rx(rf"(?: ,?(?:{voc.TRAIL_POLITE}|{voc.TRAIL_ADDITION}))+$")
_TRAIL_POLITE = _rx(rf"(?: ,?(?:{voc.TRAIL_POLITE}))+$")
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
_SUFFIX = _rx(rf"(?:^|(?<=\s))(?:(?:to be|to look|be|look|looking|become|to become|get) )?"
              rf"(?P<s>{_SUFFIX_ALT}|{voc.UNSUPPORTED_ADJECTIVES})$")
_SUFFIX_ALONE = _rx(rf"(?:and )?(?:{_SUFFIX_ALT})")
_UNSUPPORTED_ADJ = _rx(voc.UNSUPPORTED_ADJECTIVES)
_UNSUPPORTED_VERB = _rx(rf"^{voc.UNSUPPORTED_VERBS}\b")
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
_PARTICLE = _rx(r" (?:up|out)$| (?:at all|anything|in any way)$")
_DETERMINER = _rx(rf"^{voc.DETERMINERS} (?=\S)")
_NP_START = _rx(r"^(?:the|a|an|my|his|her|their|our|your|this|that|these|those|all|both|every|each)\b")
_TARGET_DEG = [(_rx(rf"^(?:{src}) (?=\S)"), actions) for src, actions in voc.TARGET_DEGRADATIONS.items()]
_IMAGE = _rx(rf"(?:{voc.IMAGE_WORDS})")
_BACKGROUND = _rx(rf"(?:{voc.BACKGROUND_WORDS})")
_ONE = _rx(rf"(?:{voc.PRONOUNS_ONE})")
_MANY = _rx(rf"(?:{voc.PRONOUNS_MANY})")


def _lookup(table: list[tuple[re.Pattern[str], tuple[str, ...]]], text: str) -> tuple[str, ...]:
    return next((actions for regex, actions in table if regex.fullmatch(text)), ())


def strip_fillers(text: str) -> str:
    """Drop politeness and connectives at the start, politeness/"too" at the end."""
    return _TRAIL.sub("", _LEAD.sub("", text)).strip(" ,")


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


def _read_chunk(raw: str, state: _Reading) -> _Chunk:
    text = _ONLY_INTENSITY.sub("", raw)  # "only slightly" is an intensity, not an exclusion
    if _ONLY.search(text):
        state.only, text = True, _ONLY.sub(" ", text).strip()
    text, strength, lead, is_number = _take_strength(strip_fillers(text))
    text = _JUST.sub("", strip_fillers(text))
    chunk = _Chunk(text=raw, strength=strength, lead=lead, number=is_number)
    if m := _EXCLUDE.match(text):
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
        if chunk.kind == "action":
            chunk.target = _strip_target_tail(rest) or None
        else:
            chunk.target, chunk.suffix, unsupported = _split_suffix(rest)
            chunk.kind = "unsupported" if unsupported else chunk.kind
    elif (pred := _read_predicate(text)) is not None:
        chunk.target, chunk.hint = pred[0] or "it", pred[1]
        if not is_number:
            chunk.strength = None  # "a bit noisy" describes the photo, it is not a strength
    elif _UNSUPPORTED_VERB.match(text):
        chunk.kind = "unsupported"
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


def clean_target(raw: str) -> tuple[str | None, tuple[str, ...]]:
    """Raw words → (target, hinted actions). None when the words cannot name a region.

    Pronouns come back as "it" / "them"; image and background synonyms as ``image`` /
    ``background``. Leading articles, possessives and quantifiers are dropped, spatial phrases
    kept whole; degradation adjectives in front ("the blurry face") are dropped and returned
    as hints.
    """
    t = strip_fillers(raw.strip(" ,.;:!?'-_*~"))
    for _ in range(3):
        t = _DETERMINER.sub("", t)
    hints: tuple[str, ...] = ()
    for regex, actions in _TARGET_DEG:
        if (m := regex.match(t)) and (actions != ("restore",) or _IMAGE.fullmatch(t[m.end():])):
            t, hints = t[m.end():], actions
            t = _DETERMINER.sub("", t)
            break
    if not t or not any(ch.isalnum() for ch in t):
        return None, hints
    if _ONE.fullmatch(t):
        return "it", hints
    if _MANY.fullmatch(t):
        return "them", hints
    if _BACKGROUND.fullmatch(t):
        return BACKGROUND, hints
    if _IMAGE.fullmatch(t):
        return IMAGE, hints
    words = {w.strip(".,'!?:;") for w in t.replace("'s ", " ").split()}
    if words & voc.NON_TARGET_WORDS or _UNSUPPORTED_VERB.match(t):
        return None, hints
    return t, hints


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
    if head.kind == "unsupported":
        state.unsupported.append(head.text)
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


def _read_sentence(sentence: str, state: _Reading) -> None:
    sentence = _ALL_BUT.sub(r"\1 except", _BETWEEN.sub(r"between \1 _and_", sentence))
    chunks: list[_Chunk] = []
    for raw in _CLAUSES.split(sentence):
        raw = raw.replace("_and_", "and").strip()
        if chunks and chunks[-1].suffix and _SUFFIX_ALONE.fullmatch(raw):  # "sharp and clean"
            chunks[-1].suffix += _lookup(_SUFFIX_TABLE, raw.removeprefix("and "))
        elif raw:
            chunks.append(_read_chunk(raw, state))
    groups: list[tuple[list[_Chunk], list[tuple[str, float | None]]]] = []
    pending: list[tuple[str, float | None]] = []
    for i, c in enumerate(chunks):
        if c.kind == "empty":
            if c.strength is not None and groups:
                for g in groups[-1][0]:
                    g.strength = c.strength if g.strength is None else g.strength
            elif c.strength is not None:
                state.carry = c.strength
            continue
        nxt = chunks[i + 1] if i + 1 < len(chunks) else None
        if c.kind == "action" and c.target is None and nxt is not None and nxt.kind in ("action", "make"):
            pending += [(a, c.strength) for a in c.actions]  # "denoise and sharpen the cat"
            continue
        head = groups[-1][0][0] if groups else None
        if (head is None or c.kind != "bare" or (c.hint and head.kind != "bare")
                or (c.suffix and head.kind == "action")):
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
    if not state.items and state.carry is not None:
        state.items.append(_Item(IMAGE, "restore", state.carry))
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


# -- refinements of the previous plan -------------------------------------------------------
_MOD = voc.alt(voc.STEP_MODIFIERS)
_DIR = voc.alt(voc.STRONGER + voc.WEAKER)
_STRONGER = _rx(voc.alt(voc.STRONGER))
_NUMTOK = r"(?P<num>\S*[\d%]\S*)"
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
                r"(?P<num>[+-]?[\d.,%e]*\d[\d.,%e]*|\S*%)$")),
    ("drop", _rx(r"^(?:but )?(?:not|without|drop|skip|forget(?: about)?|leave out|exclude|never mind)"
                 r" (?P<target>.+)$")),
    ("drop", _rx(r"^leave (?P<target>.+?) out$")),
]
_SAME = _rx(r"^(?:(?:the )?same(?: thing| again| as before| plan| as last time)?|like before|as before|"
            r"again|do it again|repeat(?: that| it)?),?(?: (?:but|with|except|and|only|just))? (?P<rest>.+)$")
_ALSO = _rx(r"^(?:and also|also|and|plus|additionally|as well as|in addition),? (?P<rest>.+)$")
_TOO = _rx(rf"^(?P<rest>.+?),? {voc.TRAIL_ADDITION}$")
_REFINE_SPLIT = _rx(rf"\s*(?:;|,(?!\d)|(?<!\d),)\s*|\s+(?:and|but)\s+"
                    rf"(?=(?:{_MOD} )?{_DIR}\b|\S*\d|not |without |drop |skip )")
_TARGET_SPLIT = _rx(r"\s*,\s*|\s+and\s+")
_WHOLE = (None, "it", "them", IMAGE)
_NOUN_ONLY = _rx(_NOUN)


def _refine_targets(raw: str | None) -> list[str | None] | None:
    """Targets named in a refinement clause; [None] = the whole plan; None = not targets."""
    if raw is None:
        return [None]
    targets: list[str | None] = []
    for part in _TARGET_SPLIT.split(raw):
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
        if target is not None and not found:
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
    clauses = [_refine_clause(c) for c in _REFINE_SPLIT.split(body)]
    if all(clauses):
        if previous is None and kind == "plain" and all(c[0] == "set" for c in clauses):  # type: ignore[index]
            return None  # "0.8 on the dog" with nothing before it is a new instruction
        if previous is None:
            return _reply(voc.NOTHING_TO_ADJUST_MESSAGE.format(request=said))
        work = _Refinement(previous)
        for op, targets, value in clauses:  # type: ignore[misc]
            for target in targets:
                if op == "delta":
                    work.shift(target, value)
                elif op == "set":
                    work.assign(target, value)
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


# -- the parser ------------------------------------------------------------------------------
_COMMANDS = [(name, _rx(rf"^{voc.COMMAND_LEAD}(?:{src}){voc.COMMAND_TRAIL}$"))
             for name, src in voc.COMMANDS.items()]
_GREETING = _rx(rf"^{voc.GREETINGS}(?:,? {voc.GREETINGS})*$")
_SEP = r"[\s,;]*"
_TEMPLATE = _rx(
    rf"^make (?P<region>(?:(?! clear with ).)+?) clear{_SEP}with (?P<s1>\S+?){_SEP}(?:and{_SEP})?keep "
    rf"(?:(?:the )?other parts (?P<mode>clear|bokeh blur){_SEP}with|the bokeh blur of (?:the )?other parts"
    rf"{_SEP}with) (?P<s2>\S+?)$"
)
_POLITE = _rx(rf"^(?:{voc.POLITE_LEAD},? )+")
_THANKS = _rx(r"\b(?:thanks|thank you|thx|cheers|ty)\b")


def _reply(message: str) -> EditPlan:
    return EditPlan(message=message)


class RuleParser(InstructionParser):
    """Regex/table parser; stateless and cheap to construct (all patterns compile at import)."""

    def parse(self, text: str, previous: EditPlan | None = None) -> EditPlan:
        """One chat message → EditPlan. Raises only InstructionError (a malformed strength)."""
        plan = self._parse(text, previous)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("parsed %r → %s (changes: %s)", text, plan.to_json(), plan.changes)
        return plan

    def _parse(self, text: str, previous: EditPlan | None) -> EditPlan:
        if not isinstance(text, str) or not text.strip():
            return _reply(voc.EMPTY_MESSAGE)
        if len(text) > MAX_CHARS:
            return _reply(voc.TOO_LONG_MESSAGE.format(n=len(text), limit=MAX_CHARS))
        norm = normalize(text)
        bare = _EDGE_PUNCT.sub("", norm)
        if not bare:
            return EditPlan(command="help", message=voc.HELP_MESSAGE) if "?" in norm else _reply(
                voc.NOT_UNDERSTOOD_MESSAGE)
        for name, regex in _COMMANDS:
            if regex.match(bare):
                return EditPlan(command=name, message=voc.HELP_MESSAGE if name == "help" else None)
        if m := _GREETING.match(bare):
            return _reply(voc.THANKS_MESSAGE if _THANKS.search(m.group(0)) else voc.GREETING_MESSAGE)
        bare = _TRAIL_POLITE.sub("", _POLITE.sub("", bare)) or bare
        if m := _TEMPLATE.match(bare):
            return self._template(m)
        refined = refine(bare, previous if previous and previous.edits else None, text.strip())
        if refined is not None:
            return refined
        reading = read_message(bare)
        if reading.items:
            return EditPlan(edits=tuple(_to_edit(i) for i in reading.items))
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


def _to_edit(item: _Item) -> Edit:
    return Edit(item.target, item.action, item.fidelity)  # type: ignore[arg-type]
