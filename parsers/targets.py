"""Region names for the rule parser: fillers around them, and the words that name a region.

``clean_target`` turns raw clause words into a target (``image`` / ``background`` synonyms,
pronouns as "it" / "them", articles and possessives dropped); ``strip_fillers`` drops politeness
and connectives around a clause. Shared by ``parsers.reading`` and ``parsers.refine``.
"""

from __future__ import annotations

from parsers import vocabulary as voc
from parsers.plan import BACKGROUND, IMAGE
from parsers.text import _rx

_LEAD = _rx(rf"^(?:(?:{voc.POLITE_LEAD}|{voc.CONNECTIVES}),? )+")
_TRAIL = _rx(rf"(?: ,?(?:{voc.TRAIL_POLITE}|{voc.TRAIL_ADDITION}))+$")
_TRAIL_POLITE = _rx(rf"(?: ,?(?:{voc.TRAIL_POLITE}))+$")
_UNSUPPORTED_VERB = _rx(rf"^{voc.UNSUPPORTED_VERBS}\b")
_DETERMINER = _rx(rf"^{voc.DETERMINERS} (?=\S)")
_TARGET_PREP = _rx(r"^(?:from|off|across|throughout|within|inside|in|on|for) "
                   r"(?=(?:the|my|his|her|their|our|your|this|that|these|those|all|every|each) "
                   r"(?!(?:left|right|top|bottom|middle|center|centre)\b))")
_TARGET_DEG = [(_rx(rf"^(?:{src}) (?=\S)"), actions) for src, actions in voc.TARGET_DEGRADATIONS.items()]
_IMAGE = _rx(rf"(?:{voc.IMAGE_WORDS})")
_BACKGROUND = _rx(rf"(?:{voc.BACKGROUND_WORDS})")
_ONE = _rx(rf"(?:{voc.PRONOUNS_ONE})")
_MANY = _rx(rf"(?:{voc.PRONOUNS_MANY})")


def strip_fillers(text: str) -> str:
    """Drop politeness and connectives at the start, politeness/"too" at the end."""
    return _TRAIL.sub("", _LEAD.sub("", text)).strip(" ,")


def clean_target(raw: str) -> tuple[str | None, tuple[str, ...]]:
    """Raw words → (target, hinted actions). None when the words cannot name a region.

    Pronouns come back as "it" / "them"; image and background synonyms as ``image`` /
    ``background``. Leading articles, possessives and quantifiers are dropped, spatial phrases
    kept whole; degradation adjectives in front ("the blurry face") are dropped and returned
    as hints.
    """
    t = _TARGET_PREP.sub("", strip_fillers(raw.strip(" ,.;:!?'-_*~")))  # "… but only from the sky"
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
