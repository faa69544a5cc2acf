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
    (r"[’‘´`]", "'"), (r"[“”«»\"()\[\]{}<>]", " "),
    (r"\s*[—–]\s*|\s+-{1,2}\s+", ", "), (r"\s*[\r\n]+\s*", " ; "),
    (r"\bwon'?t\b", "will not"), (r"\bcan'?t\b|\bcannot\b", "cannot"),
    (r"\b(do|does|did|is|are|was|were|could|would|should|have|has|must)n'?t\b", r"\1 not"),
    (r"\b(it|that|there|what|here|this|who|how|where)'s\b", r"\1 is"), (r"\bi'm\b", "i am"),
    (r"\b(i|you|we|they|he|she)'d\b", r"\1 would"), (r"\b(i|you|we|they)'ll\b", r"\1 will"),
    (r"\b(i|you|we|they)'ve\b", r"\1 have"), (r"\b(you|we|they)'re\b", r"\1 are"),
(r"\blet's\b", "let us"),
    (r"\b(i|we) (?:really|truly|just|kinda|kind of|also|actually) (want|need|would|wish|hope)\b", r"\1 \2"),
    (r"\b(super|ultra|extra)-(?=[a-z])", r"\1 "),
    (r"\bdeep[- ]clean", "thoroughly clean"), (r"&", " and "), (r"\bw/\s*", "with "),
    (r"([0-9])\s*(?:percent|per cent|pct)\b", r"\1%"), (r"([0-9])\s+%", r"\1%"),
    (r"\s*([:=])\s*", r" \1 "), (r"\bblack and white\b", "black-and-white"),
    (r"\bsalt and pepper\b", "salt-and-pepper"), (r"\b(?:please|pls|plz|kindly)\b", " "),
    (r"\s+", " "), (r"\s+([,.!?;])(?=\s|$)", r"\1"), (r",(?: ?,)+", ","), (r"^[\s,]+", ""),
)]
_EDGE_PUNCT = _rx(r"^[\s.!?,;:]+|[\s.!?,;:]+$")


def normalize(text: str) -> str:
    """Lower-case, NFKC, straight quotes, expanded contractions, single spaces, no "please"."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(ch) == "So" else ch for ch in text)  # emoji, symbols
    for pattern, repl in _REWRITES:
        text = pattern.sub(repl, text)
    return text.strip()


# -- strengths -------------------------------------------------------------------------------
_NUMBER = _rx(r"[+-]?(?:[0-9]+(?:[.,][0-9]+)?|[.,][0-9]+)%?")
#: Words people type where a number belongs; never a strength ("with nan" is malformed).
NOT_A_NUMBER = r"[+-]?(?:nan|inf|infinity|infinite|∞)"
_NUM_MARKED = _rx(rf"(?:^|(?<=\s)){voc.NUMBER_MARKER} (?P<num>(?=\S*[\d%])\S+|{NOT_A_NUMBER})"
                  rf"(?: (?:fidelity|strength|scale|level))?(?=$| {voc.NUMBER_FOLLOWERS}\b)")
_NUM_WORD = _rx(rf"(?:^|(?<=\s))(?:(?:with|at|using|and) )?(?:(?:a|an|the) )?(?P<k>fidelity|strength)"
                rf"(?: (?:of|is|at|[:=]))? (?P<w>[a-z]+)(?=$| {voc.NUMBER_FOLLOWERS}\b)")
_NUM_LEAD = _rx(r"^(?P<num>[+-]?[0-9]*[.,]?[0-9]+%?) (?:on|for|to) ")
_NUM_MARKED_LEAD = _rx(rf"^(?:with|at|using)(?: (?:a )?(?:fidelity|strength)(?: of)?)? "
                       rf"(?P<num>(?=\S*[\d%])\S+|{NOT_A_NUMBER}),? (?=\S)")  # "with 0.5, restore the dog"
_NUM_BARE = _rx(r"(?:^|(?<=\s))(?P<num>[+-]?[0-9]*[.,][0-9]+(?:[.,][0-9]+)*%?|[+-]?[0-9]+%|"
                r"[+-][0-9]+|[+-]?[0-9.]+e[+-]?[0-9]+)$")
_INTENSITY = _rx(rf"(?:^|(?<=\s))(?<!too )(?<!so )(?<!how )(?P<w>{voc.alt(voc.INTENSITY)})"
                 r"(?!\s+(?:of|more|less)\b)(?=\s|$)")
_INTENSITY_ADJ = _rx(rf"(?:^|(?<=\s))(?P<w>{voc.alt(voc.INTENSITY_ADJECTIVES)})(?= (?:noise reduction|"
                     r"denoising|deblurring|sharpening|restoration|enhancement|cleanup|clean-up|bokeh|"
                     r"blur|background blur|jpe?g artifact removal|artifact removal|deblocking|repair|"
                     r"touch|denoise|sharpen|restore|fix))")
_DEGREE = voc.alt(voc.COMPARATIVE_DEGREES)
_MORE_NOUN = _rx(rf"(?:^|(?<=\s))(?P<w>(?:(?P<d>{_DEGREE}) )?(?:more|extra|additional))"
                 rf"(?= (?:of (?:the )?|some )?{voc.MORE_NOUNS}(?:\s|$))")
_LESS_NOUN = _rx(r"(?:^|(?<=\s))less(?= (?:of (?:the )?)?(?:bokeh|background blur|sharpening|denoising|"
                 r"noise reduction|smoothing|restoration|deblocking|blur(?= (?:on|in|of) (?:the )?"
                 r"(?:background|bg|backdrop)))(?:\s|$))")
_COMPARATIVE = _rx(rf"(?:^|(?<=\s))(?P<w>{_DEGREE})(?= {voc.COMPARATIVES}(?:\s|$))")
_INTENSIFIER = _rx(rf"(?:^|(?<=\s))(?<!the )(?<!this )(?<!that )(?P<w>{voc.alt(voc.INTENSIFIERS)})"
                   rf"(?= {voc.INTENSIFIED}(?:\s|$)|(?<=ly)$)")
_AS_ADJ_AS = _rx(r"\bas (?P<a>[a-z-]+(?: [a-z-]+)?) as (?:possible|you can|it gets|it can be|can be|"
                 r"you possibly can|it will go)\b")
_DESCRIBING = _rx(rf"(?:^|(?<=\s))(?:{voc.alt(voc.INTENSIFIERS)}|so|quite|pretty|rather) "
                  r"(?=(?:noisy|grainy|blurry|blurred|fuzzy|blocky|pixelated|damaged|old|faded|dirty|scratched|"
                  r"low-quality|compressed|out-of-focus|unfocused|degraded)\b)")  # "a really noisy sky"
_COMPARATIVE_ADJ = _rx(r"\w+er|more \w+")  # "a stronger denoise", "more aggressive sharpening"
_DEGREE_TABLE = [(_rx(words), value) for words, value in voc.COMPARATIVE_DEGREES.items()]
_INTENSIFIER_TABLE = [(_rx(words), value) for words, value in voc.INTENSIFIERS.items()]
_INTENSITY_TABLE = [(_rx(words), value) for words, value in voc.INTENSITY.items()]
_INTENSITY_ADJ_TABLE = [(_rx(words), value) for words, value in voc.INTENSITY_ADJECTIVES.items()]
_MORE_END = _rx(rf"(?:^|(?<=\s))(?:(?P<d>{voc.alt(voc.COMPARATIVE_DEGREES)}) )?(?:more|further)$")
_MORE_OTHER = _rx(r"(?:(?<=\ssharper)|(?<=\scrisper)|(?<=\sclearer)|(?<=\scleaner)|(?<=\sblurrier)|"
                  r"(?<=\sbetter)|(?<=\ssmoother)) still$|"
                  r"^(?:even |still )?further (?=\S)")  # "sharper still", "further blur the background"
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
    return check_fidelity(value, source=repr(token)) + 0.0  # "-0" is 0


def _word_value(table: list[tuple[re.Pattern[str], float]], word: str) -> float:
    return next(value for regex, value in table if regex.fullmatch(word))


def _cut(text: str, m: re.Match[str]) -> str:
    return _SPACES.sub(" ", text[: m.start()] + " " + text[m.end():]).strip()


def _take_strength(text: str) -> tuple[str, float | None, bool, bool, bool]:
    """Remove strengths from a clause → (rest, fidelity, at_clause_start, is_number, relative).

    The first number wins over intensity words; every number is validated. ``relative`` is True
    when the strength came from a comparative ("even blurrier", "more bokeh", "sharper still"):
    after a result it adjusts that result instead of starting a new plan.
    """
    value, lead, is_number, relative = None, False, False, False
    text = _DESCRIBING.sub("", text)  # an intensifier on a described degradation is no strength
    for regex in (_NUM_MARKED, _NUM_MARKED_LEAD, _NUM_LEAD, _NUM_BARE):
        while m := regex.search(text):
            number = parse_number(m.group("num"))
            if value is None:
                value, lead, is_number = number, m.start() == 0, True
            text = _cut(text, m)
    while m := _NUM_WORD.search(text):  # "strength: high", "fidelity one"; "fidelity: abc" is malformed
        table = voc.FIDELITY_WORDS if m.group("k") == "fidelity" else voc.STRENGTH_WORDS
        word = m.group("w")
        number = voc.NUMBER_WORDS.get(word, table.get(word))
        if number is None:
            parse_number(word)  # raises: a word that is not a strength
        if value is None:
            value, lead, is_number = number, m.start() == 0, word in voc.NUMBER_WORDS
        text = _cut(text, m)
    if m := _AS_ADJ_AS.search(text):  # "as sharp as possible" → "sharp", the strongest words
        value, lead = (voc.INTENSITY["extremely"], m.start() == 0) if value is None else (value, lead)
        text = _SPACES.sub(" ", text[: m.start()] + m.group("a") + text[m.end():]).strip()
    while m := _LESS_NOUN.search(text):  # "less bokeh", "less sharpening on the face"
        if value is None:
            value, lead, relative = voc.LESS_INTENSITY, m.start() == 0, True
        text = _cut(text, m)
    while m := _MORE_NOUN.search(text):  # "add more bokeh", "much more sharpening"
        if value is None:
            degree = m.group("d")
            value = _word_value(_DEGREE_TABLE, degree) if degree else voc.MORE_INTENSITY
            lead, relative = m.start() == 0, True
        text = _cut(text, m)
    if (m := _MORE_END.search(text)) and m.group("d") and m.start() > 0:  # "the dog a little bit more"
        if value is None:
            value, relative = _word_value(_DEGREE_TABLE, m.group("d")), True
        text = _cut(text, m)
    for regex, table in ((_COMPARATIVE, _DEGREE_TABLE), (_INTENSITY, _INTENSITY_TABLE),
                         (_INTENSIFIER, _INTENSIFIER_TABLE), (_INTENSITY_ADJ, _INTENSITY_ADJ_TABLE)):
        while m := regex.search(text):
            if value is None:
                value, lead = _word_value(table, m.group("w")), m.start() == 0
                relative = regex is _COMPARATIVE or (regex is _INTENSITY_ADJ and _COMPARATIVE_ADJ.fullmatch(
                    m.group("w")) is not None)
            text = _cut(text, m)
    if (m := _MORE_END.search(text)) and m.start() > 0:  # "blur it even more", "… more strongly"
        degree = m.group("d")
        if value is None:
            value = _word_value(_DEGREE_TABLE, degree) if degree else voc.MORE_INTENSITY
            relative = True
        text = _cut(text, m)
    if m := _MORE_OTHER.search(text):
        value, relative = (voc.MORE_INTENSITY, True) if value is None else (value, relative)
        text = _cut(text, m)
    if lead and is_number:
        text = _AFTER_LEAD_NUMBER.sub("", text)  # "fidelity 0.5 on the dog"
    return text, value, lead, is_number, relative

