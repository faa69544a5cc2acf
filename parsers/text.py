"""Text helpers shared by the rule parser's modules: normalisation and strengths.

``normalize`` lower-cases and tidies a message before any pattern sees it; ``parse_number``
reads a user-given strength; ``_take_strength`` removes the strengths (numbers or intensity
words, table in ``parsers.vocabulary``) from a clause. See ``parsers.rules`` for the grammar.
"""

from __future__ import annotations

import re
import unicodedata

from parsers import vocabulary as voc
from parsers.plan import InstructionError, check_fidelity


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

