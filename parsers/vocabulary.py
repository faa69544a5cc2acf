"""Word tables for the rule parser (``parsers.rules``). Data only: no logic beyond joining words.

Long because: it is a vocabulary, one table per kind of word; splitting it would scatter the
words a reader compares side by side.

Entries are regular-expression fragments over *normalised* text: lower-case, single spaces,
``don't`` → ``do not``, ``it's`` → ``it is``, ``&`` → ``and``, ``50 percent`` → ``50%``.
Alternations are sorted longest first so that "very slightly" wins over "slightly".

Intensity words (fresh instructions) → fidelity; lower restores more strongly, 1 is neutral:

==========================================================================  ========
words                                                                       fidelity
==========================================================================  ========
extremely, maximally, as much as possible, very strongly, aggressively,     0.25
at full strength, "maximum ..." ("a maximum restoration")
strongly, heavily, a lot, much, very much, significantly, with low          0.5
fidelity, "strong ..." ("a strong restoration of the dog")
more (ending a clause: "restore the dog more"), noticeably                  0.75
moderately, normally, "moderate / medium / normal ..."                      1.0
(no word)                                                                   null (automatic)
slightly, a bit, a little, gently, lightly, mildly, subtly, with high       1.5
fidelity, "light / gentle / mild ..." ("light denoising on the sky")
very slightly, barely, very gently, a tiny bit, just a touch, minimally,    1.75
at low strength
==========================================================================  ========

Intensifiers right before a verb or adjective ("really clean up", "super sharp", "thoroughly")
count as "strongly" (0.5), the absolute ones ("completely", "fully", "ultra") as 0.25. A
comparative takes its degree word's value ("even blurrier", "add more bokeh": 0.75; "way
sharper", "much more bokeh": 0.5; "a bit more bokeh": 1.5); a bare comparative ("sharper")
sets none. A protective clause ("but keep skin texture") gives 1.5 where no strength was set.

Numbers always win over words, and are never clamped: a malformed number or one outside
[0, 2] is an ``InstructionError``. Words inside a described degradation ("the sky looks a bit
noisy") describe the photo and set no strength.

Refinement steps (a follow-up to the previous plan; an automatic fidelity counts as 1.0):
"stronger"/"more" subtract the step, "weaker"/"gentler"/"less" add it. The step is 0.25, or
0.15 with "a bit / slightly / a little", 0.5 with "much / a lot / way / far", 0.1 with
"very slightly / a tiny bit". Results are rounded to 2 decimals and clamped into [0, 2]; the
clamp is stated in the plan's ``changes``.
"""

from __future__ import annotations


def alt(words: object) -> str:
    """A non-capturing alternation of regex fragments, longest first."""
    return "(?:" + "|".join(sorted(words, key=len, reverse=True)) + ")"  # type: ignore[arg-type]


# -- strengths -------------------------------------------------------------------------------
INTENSITY: dict[str, float] = {
    "extremely": 0.25, "maximally": 0.25, "as much as possible": 0.25, "to the max": 0.25,
    "very strongly": 0.25, "very heavily": 0.25, "aggressively": 0.25, "all the way": 0.25,
    "strongly": 0.5, "heavily": 0.5, "a lot": 0.5, "much": 0.5, "very much": 0.5,
    "significantly": 0.5, "substantially": 0.5, "a great deal": 0.5,
    "noticeably": 0.75,
    "moderately": 1.0, "normally": 1.0,
    "slightly": 1.5, "a bit": 1.5, "a little": 1.5, "a little bit": 1.5, "gently": 1.5,
    "lightly": 1.5, "mildly": 1.5, "subtly": 1.5, "softly": 1.5, "a touch": 1.5, "a tad": 1.5,
    "(?:super|really|extra|ultra) (?:gently|lightly|slightly|subtly|softly)": 1.75,
    "(?:super|really|extra|ultra) (?:strongly|heavily|aggressively)": 0.25,
    "(?:really|very|super|extra) well": 0.5, "hard(?=$)": 0.5, "(?:really|very|super) hard(?=$)": 0.25,
    "(?:be (?:gentle|careful)|go (?:easy|gently)|take it easy)(?! (?:on|with) (?!(?:it|them)\\b))"
    "(?: (?:on|with) (?:it|them))?": 1.5,
    "(?:be|get) (?:aggressive|brutal|ruthless|merciless) (?:with|on|about)": 0.25,
    "go (?:hard|heavy|big) on": 0.5,
    "very slightly": 1.75, "barely": 1.75, "very gently": 1.75, "very lightly": 1.75,
    "a tiny bit": 1.75, "just a touch": 1.75, "minimally": 1.75, "very subtly": 1.75,
    # fidelity in words: high fidelity stays close to the input
    "with (?:a )?low fidelity": 0.5, "with (?:a )?high fidelity": 1.5,
    "(?:at|with) (?:full|maximum|max) strength": 0.25,
    "(?:at|with) half (?:strength|power)": 1.5, "(?:at|with) (?:low|minimum|min) strength": 1.75,
}
#: "more" only counts as an intensity at the end of a clause ("restore the dog more").
MORE_INTENSITY = 0.75
#: Intensifiers right before a verb or an adjective: "really clean up the water", "super sharp".
#: Not before a wish ("i really want the face sharp" sets no strength).
INTENSIFIERS: dict[str, float] = {
    "really": 0.5, "very": 0.5, "super": 0.5, "extra": 0.5, "thoroughly": 0.5, "properly": 0.5,
    "seriously": 0.5, "deeply": 0.5, "intensely": 0.5, "truly": 0.5,
    "really really": 0.25, "very very": 0.25, "super duper": 0.25, "ultra": 0.25, "completely": 0.25,
    "fully": 0.25, "totally": 0.25, "entirely": 0.25, "absolutely": 0.25, "insanely": 0.25,
    "incredibly": 0.25, "perfectly": 0.25,
}
#: What an intensifier must precede to count: a restoring verb or adjective ("really clean up",
#: "super sharp", "thoroughly denoise"); "very nice" or "really want" set no strength.
INTENSIFIED = (
    r"(?:restore|restored|enhance|improve|fix|repair|clean|cleaner|clear|clearer|denoise|de-noise|"
    r"degrain|sharpen|sharpened|deblur|unblur|dejpeg|deblock|blur|blurred|blurry|blurrier|bokeh|"
    r"remove|reduce|eliminate|get rid|smooth|smoother|refine|recover|retouch|clarify|crisp|crisper|"
    r"sharp|sharper|focused|in focus|readable|legible|detailed|noise-free|grain-free|artifact-free|"
    r"make|bring|well|hard|gently|strongly|heavily|lightly|soft|softer|defocused|get|do|go|apply|"
    r"visible|recogni[sz]able|better|good|high quality|hd|crystal|tack|thorough|deep|proper|strong|"
    r"heavy|intense|big|major|complete|full|aggressive|aggressively)"
)
#: Comparatives: a degree word before "more …" or a comparative adjective. The degree decides
#: ("even blurrier", "more bokeh": 0.75 like "restore the dog more"; "way sharper", "much more
#: bokeh": 0.5; "a bit more bokeh": 1.5, like "a bit sharper").
COMPARATIVE_DEGREES: dict[str, float] = {
    "even": 0.75, "still": 0.75, "yet": 0.75, "even more": 0.75, "still more": 0.75,
    "way": 0.5, "far": 0.5, "much": 0.5, "a lot": 0.5, "lots": 0.5, "considerably": 0.5,
    "significantly": 0.5, "substantially": 0.5, "a great deal": 0.5, "loads": 0.5, "tons": 0.5,
    "a whole lot": 0.5, "so much": 0.5, "way way": 0.25, "much much": 0.25,
    "a bit": 1.5, "a little": 1.5, "a little bit": 1.5, "slightly": 1.5, "a tad": 1.5, "a touch": 1.5,
    "somewhat": 1.5, "a tiny bit": 1.75, "very slightly": 1.75, "just a bit": 1.5, "just a little": 1.5,
}
#: Adjectives that put an action on the noun after them: "sharp eyes", "crisper text", "a blurrier
#: background" (bokeh only before the background: "the blurry face" is a face to deblur).
LEADING_ADJECTIVES: dict[str, tuple[str, ...]] = {
    r"sharp|sharper|crisp|crisper|in-focus|focused|tack-sharp|razor-sharp": ("deblur",),
    r"blurry|blurrier|blurred|more blurred|bokeh|defocused|softer|dreamy|creamy|out-of-focus": ("bokeh",),
    r"noise-free|grain-free|noiseless|smoother": ("denoise",),
    r"artifact-free|artefact-free|block-free": ("dejpeg",),
    r"clearer|cleaner|restored|crystal-clear": ("restore",),
}
#: "give the background more bokeh", "give the sky a gentle denoise": the noun is the action.
GIVE_NOUNS = (
    r"(?:bokeh(?: effect| blur)?|background blur|blur|depth of field|denoise|denoising|noise reduction|"
    r"sharpen|sharpening|deblur|deblurring|cleanup|clean-up|clean up|deblocking|restoration|"
    r"touch-up|fix|repair)"
)
#: Nouns that name an action: "more sharpness for the eyes", "crank up the denoising on the sky".
ACTION_NOUNS: dict[str, tuple[str, ...]] = {
    r"sharpness|focus|crispness|definition|sharpening|deblurring": ("deblur",),
    r"clarity|details?|detail level|restoration|enhancement|cleanup|clean-up": ("restore",),
    r"denoising|noise reduction|noise removal|grain removal|smoothing": ("denoise",),
    r"deblocking|artifact removal|jpe?g artifact removal|artefact removal": ("dejpeg",),
    r"bokeh(?: effect| blur)?|background blur|blur|depth of field": ("bokeh",),
}
#: Phrasal verbs that raise an action ("crank up the sharpness", "max out the bokeh") → fidelity.
RAISE_VERBS: dict[str, float] = {
    "max out|maximi[sz]e|crank all the way up": 0.25,
    "crank up|jack up|go hard on|go heavy on|go big on|hit|pump up": 0.5,
    "turn up|bump up|dial up|ramp up|step up|push up|kick up|up": 0.75,
}
#: After a result, a comparative on an edit the plan already has is a step on it (the refinement
#: steps below): the fresh value of the comparative → the step. "a bit more" is a small step
#: stronger there, although on a fresh instruction "a bit" asks for a gentle one.
RELATIVE_STEPS: dict[float, float] = {0.25: -0.5, 0.5: -0.5, 0.75: -0.25, 1.0: -0.25, 1.5: -0.15, 1.75: -0.1,
                                     1.25: 0.25}
#: "less bokeh", "less sharpening on the face": a gentler treatment (after a result, a step gentler).
LESS_INTENSITY = 1.25
#: What "more" / "extra" can qualify as a strength: "add more bokeh", "extra sharpening on the face".
MORE_NOUNS = (
    r"(?:bokeh|blur|background blur|blurring|depth of field|noise reduction|denoising|noise removal|"
    r"sharpening|sharpness|crispness|definition|focus|detail|details|clarity|restoration|enhancement|"
    r"deblocking|artifact removal|cleanup|clean-up|clean up|smoothing)"
)
#: Comparative adjectives people use for the actions: "sharper", "blurrier", "more blurry".
COMPARATIVES = (
    r"(?:sharper|crisper|clearer|cleaner|smoother|blurrier|blurryer|softer|better|nicer|stronger|"
    r"heavier|gentler|fresher|less (?:noisy|grainy|blurry|blurred|blocky|pixelated|soft|fuzzy|damaged)|"
    r"more (?:\w+))"
)
#: Adjectives before an action noun: "a strong restoration", "light denoising".
INTENSITY_ADJECTIVES: dict[str, float] = {
    "maximum": 0.25, "max": 0.25, "full": 0.25, "aggressive": 0.25,
    "strong": 0.5, "heavy": 0.5, "deep": 0.5,
    "stronger": 0.75, "heavier": 0.75, "deeper": 0.75, "more thorough": 0.75, "more aggressive": 0.75,
    "gentler": 1.25, "lighter": 1.25, "milder": 1.25, "softer": 1.25, "more subtle": 1.25,
    "moderate": 1.0, "medium": 1.0, "normal": 1.0,
    "thorough": 0.5, "proper": 0.5, "serious": 0.5, "intense": 0.5, "big": 0.5, "major": 0.5,
    "light": 1.5, "gentle": 1.5, "mild": 1.5, "subtle": 1.5, "slight": 1.5, "soft": 1.5,
    "very light": 1.75, "very gentle": 1.75, "minimal": 1.75,
}
#: Words that introduce a number: "with 0.5", "at 50%", "fidelity: 0.7", "strength = 1".
NUMBER_MARKER = (
    r"(?:(?:with|at|using|by|to)(?: an?)?(?: (?:fidelity|strength|scale|level|intensity|value|factor))?"
    r"(?: (?:of|[:=]))?|(?:fidelity|strength|scale|level|intensity)(?: (?:of|[:=]|is|to|at))?|[:=])"
)
#: A number after a marker only counts if the clause ends there or one of these follows
#: ("the man with 2 dogs" keeps "with 2 dogs" in the target).
#: Words after "fidelity" / "strength" ("strength: high", "fidelity one"). Any other word there is
#: a malformed strength ("fidelity: abc", "strength = nan"), never part of a region name.
NUMBER_WORDS: dict[str, float] = {"zero": 0.0, "half": 0.5, "one": 1.0, "two": 2.0}
FIDELITY_WORDS: dict[str, float] = {
    "low": 0.5, "lower": 0.75, "medium": 1.0, "normal": 1.0, "default": 1.0, "neutral": 1.0, "high": 1.5,
    "higher": 1.25, "min": 0.0, "minimum": 0.0, "max": 2.0, "maximum": 2.0,
}
STRENGTH_WORDS: dict[str, float] = {
    "low": 1.5, "weak": 1.5, "light": 1.5, "gentle": 1.5, "medium": 1.0, "normal": 1.0, "default": 1.0,
    "moderate": 1.0, "high": 0.5, "strong": 0.5, "heavy": 0.5, "max": 0.25, "maximum": 0.25, "full": 0.25,
    "min": 1.75, "minimum": 1.75,
}
NUMBER_FOLLOWERS = alt([
    "and", "on", "for", "to", "then", "but", "fidelity", "strength", "scale", "each", "both",
    "too", "also", "as well", "while", "only", "instead", "keep", "leave", "except",
])

# -- refinement steps ------------------------------------------------------------------------
STEP_DEFAULT = 0.25
STEP_MODIFIERS: dict[str, float] = {
    "a bit": 0.15, "a little": 0.15, "a little bit": 0.15, "slightly": 0.15, "a tad": 0.15,
    "a touch": 0.15, "somewhat": 0.15,
    "much": 0.5, "a lot": 0.5, "way": 0.5, "far": 0.5, "lots": 0.5, "significantly": 0.5,
    "very slightly": 0.1, "a tiny bit": 0.1, "just a touch": 0.1, "just a bit": 0.1,
    "even": STEP_DEFAULT, "still": STEP_DEFAULT, "really": 0.5, "super": 0.5, "considerably": 0.5,
    "way way": 0.75, "much much": 0.75, "a whole lot": 0.5,
}
STRONGER = [
    "stronger", "more", "harder", "heavier", "more aggressive", "more aggressively",
    "more strongly", "further", "more intense", "more intensely", "more restoration",
    "not enough", "too weak", "too subtle", "too little", "not strong enough", "too gentle",
    "turn it up", "crank it up", "push it further", "push it", "go further", "go harder",
    "boost it", "step it up", "more detail", "more details",
]
WEAKER = [
    "weaker", "less", "gentler", "softer", "milder", "subtler", "more gently",
    "more gentle", "more subtle", "less strong", "less aggressive", "less aggressively",
    "less strongly", "more natural", "more faithful", "closer to the original", "too strong",
    "too much", "too aggressive", "overdone", "overcooked", "too artificial", "too fake",
    "too smooth", "over-processed", "overprocessed", "tone it down", "dial it back",
    "tone down", "back off", "ease off", "pull back", "not so strong", "not so much",
]

# -- actions ---------------------------------------------------------------------------------
_DET = r"(?:(?:both|either|all) )?(?:(?:the|an?|some|all(?: the)?|any|a lot of|much|that|this|those|these) )?"
_PREP = r"(?: (?:from|in|on|of|off|around|for|to|at|across|throughout))?"
NOISE = (r"(?:salt-and-pepper noise|film grain|sensor noise|colou?r noise|noise|grain|graininess|"
         r"noisiness|speckles?)")
BLUR = r"(?:motion blur|camera shake|blurriness|blurring|blur|softness|haze)"
JPEG = (r"(?:(?:jpe?g compression|jpe?g|compression)(?: artifacts?| artefacts?| noise| blocks?| blockiness|"
        r" blocking| artifacting| damage| errors)?"
        r"|artifacts|artefacts|blockiness|blocking|block artifacts|pixelation|banding)")
DAMAGE = (r"(?:scratch(?:es)?|dust|stains?|tears?|creases?|spots?|damage|cracks?|marks?|blemish(?:es)?|"
          r"specks?|scuffs?|dirt|smudges?)")
_REMOVE = (r"(?:remove|reduce|eliminate|suppress|get rid of|take out|lessen|minimi[sz]e|cut|kill|fix|"
           r"correct|undo|clean up|clean|clear up|clear)")
_INCREASE = r"(?:increase|improve|boost|add|enhance|more|restore|bring back|recover)(?: the| some)?(?: more)?"

_BOKEH = r"(?:bokeh blur|bokeh effect|bokeh|background blur|blurred background|depth of field|blur)"
_OUT = r"(?:get|take|clean|wipe|clear|knock|strip)"  # "get the noise out of the sky"


def _removal(noun: str) -> str:
    return rf"(?:{_REMOVE} {_DET}{noun}{_PREP}|{_OUT} {_DET}{noun} (?:out|off)(?: of| from)?)"



#: Verbs at the start of a clause. kind: "action" (the actions are given), "make" (the action
#: comes from an adjective after the target: "make the dog clear"), "keep" (like make, but
#: with no adjective it means keep: "leave the rest", "keep the sky as is").
PREFIXES: list[tuple[str, str, tuple[str, ...]]] = [
    (rf"(?:(?:add|apply|put|keep|preserve|retain|maintain|leave|give it|increase|boost|strengthen|"
     rf"intensify|amplify|deepen) {_DET}(?:an? )?(?:nice )?{_BOKEH}(?: (?:of|in|on|to|behind|for))?|"
     rf"{_DET}(?:an? )?(?:nice )?{_BOKEH} (?:in|on|to|behind|for)|(?:background blur|blurred background))",
     "action", ("bokeh",)),
    (_removal(NOISE), "action", ("denoise",)),
    (_removal(JPEG), "action", ("dejpeg",)),
    (_removal(BLUR), "action", ("deblur",)),
    (_removal(DAMAGE), "action", ("restore",)),
    (rf"(?:(?:apply|do|run|use|give it|perform|add)(?: an?| some)? )?{_DET}"
     r"(?:noise reduction|denoising|noise removal|grain removal|denoise)(?: (?:to|on|for|of|in))?",
     "action", ("denoise",)),
    (rf"(?:(?:apply|do|run|use|give it|perform|add)(?: an?| some)? )?{_DET}"
     r"(?:deblurring|sharpening|deblur|sharpen)(?: (?:to|on|for|of|in))?", "action", ("deblur",)),
    (rf"(?:(?:apply|do|run|use|give it|perform|add)(?: an?| some)? )?{_DET}"
     r"(?:jpe?g artifact removal|artifact removal|deblocking|dejpeg)(?: (?:to|on|for|of|in))?",
     "action", ("dejpeg",)),
    (rf"(?:(?:apply|do|run|use|give it|perform|add)(?: an?| some)? )?{_DET}"
     r"(?:restoration|enhancement|cleanup|clean-up|repair|restore|touch-up|fix)(?: (?:to|on|for|of|in))?",
     "action", ("restore",)),
    (rf"{_INCREASE} (?:sharpness|focus|crispness)(?: (?:on|of|in|for|to))?", "action", ("deblur",)),
    (rf"{_INCREASE} (?:details?|clarity|quality)(?: (?:on|of|in|for|to))?", "action", ("restore",)),
    (r"(?:denoise|de-noise|degrain|de-grain|smooth out|smooth)", "action", ("denoise",)),
    (r"(?:sharpen up|sharpen|deblur|de-blur|unblur|refocus|focus on|focus)", "action", ("deblur",)),
    (r"(?:dejpeg|de-jpeg|deblock|de-block|decompress)", "action", ("dejpeg",)),
    (r"(?:blur out|blur|bokeh|defocus|soften)", "action", ("bokeh",)),
    (r"(?:restore|enhance|improve|fix up|fix|repair|clean up|clean|recover|retouch|refine|"
     r"clarify|clear up|touch up|tidy up|revive|upgrade|bring out(?: the)? details?(?: in| of| on)?|"
     r"bring back(?: the)? details?(?: in| of| on)?|sort out|set|adjust)", "action", ("restore",)),
    (r"(?:protect|skip|ignore|exclude|do nothing (?:to|with)|leave out)", "action", ("keep",)),
    # a command verb with a region: "reset the sky", "revert the face to the original"
    (r"(?:reset|revert|un-?restore|un-?do (?:the |all |any )?(?:changes?|edits?|restoration|work) "
     r"(?:to|on|of))", "action", ("keep",)),
    (r"(?:make|get|render|turn|bring|have|want)", "make", ()),
    (r"(?:keep|leave|preserve|retain|maintain)", "keep", ()),
]
#: A removal verb ("remove noise and jpeg artifacts from the sky"): the degradation nouns listed
#: after it share the verb and the region named at the end of the list.
REMOVE_VERBS = rf"(?:{_REMOVE}|{_OUT})"
#: "get X out of Y" / "take X off Y" (read as "remove X from Y").
OUT_VERBS = _OUT

# -- protective clauses ----------------------------------------------------------------------
#: Qualities of a region that a restoration could wash out ("keep skin texture", "preserve the
#: film grain"). "keep QUALITY [on REGION]" is a gentler fidelity for that region, never a region.
QUALITY_NOUNS = (
    r"(?:textures?|grain|graininess|grain structure|noise|film noise|details?|detail level|fine details?|"
    r"film look|"
    r"look|feel|character|pores|freckles|wrinkles|skin tones?|tones?|colou?rs?|sharpness|authenticity|"
    r"realism|charm|atmosphere|mood|patina|vintage look|vintage feel|analog(?:ue)? look|film feel|"
    r"film character|imperfections|structure|texture detail|texture details|micro-?contrast)"
)
QUALITY_MODIFIERS = (
    r"(?:the|its|their|his|her|my|our|your|some|some of the|a bit of|a little|all the|any|"
    r"natural|fine|original|skin|facial|film|hair|fabric|wood|paper|analog|analogue|photographic|"
    r"organic|surface|real|little|small|subtle|old|vintage|nice|lovely|characteristic)"
)
QUALITIES = rf"(?:{QUALITY_MODIFIERS} )*(?:[a-z'-]+ )?{QUALITY_NOUNS}"
PROTECT_VERBS = (
    r"(?:keep|keeping|preserve|preserving|retain|retaining|maintain|maintaining|protect|protecting|"
    r"save|saving|hold on to|respect|respecting|leave|leaving|(?:do not|never|without|not) (?:lose|losing|"
    r"remove|removing|destroy|destroying|kill|killing|erase|erasing|smooth(?:ing)?(?: out| away| over)?|"
    r"wipe|wiping|wipe out|wiping out|flatten|flattening|ruin|ruining|touch|touching|change|changing|"
    r"damage|damaging|get rid of|getting rid of|take away|taking away|strip|stripping))"
)
#: Clauses that ask for a gentler hand on the last region without naming a quality.
GENTLER_CLAUSES = (
    r"(?:not too (?:much|strong|strongly|hard|aggressive|aggressively|heavy|heavily|far|intense)|"
    r"(?:do not|without|never) overdo(?:ing)? (?:it|that|them)|(?:do not|without|never) "
    r"over-?(?:smooth|sharpen|process|do|cook)(?:ing)?(?: (?:it|that|them))?|go easy(?: on (?:it|them))?|"
    r"easy on (?:it|them)|(?:go easy|be gentle|be careful|take it easy) (?:on|with) (?P<t2>.+)|"
    r"(?:keep|keeping|leave|leaving) (?:it|them|(?:the |its |their )?skin(?: tones?)?) (?:looking )?"
    r"(?:natural|realistic|real|subtle|believable|authentic)(?:-looking)?|"
    r"(?:without making|do not make|never make) (?:it|them|the skin|the face|the faces) (?:look )?(?:too )?"
    r"(?:fake|plastic|waxy|artificial|painted|over-?processed|smeared|smooth|unnatural|cartoonish)|"
    r"(?:do not|without|never) (?:over-?)?smooth(?:ing)?(?: out)? (?:the |their |his |her |its )?"
    r"(?:skin|it|them)|(?:so(?: that)? )?(?:it|they) (?:still )?(?:looks?|stays?|remains?) "
    r"(?:natural|realistic|real|authentic)|(?:keep it )?(?:subtle|natural|natural-looking|realistic|"
    r"believable))"
)
#: The fidelity a protective clause gives a region whose strength was not set (as "gently").
PROTECT_FIDELITY = 1.5

#: After "do not" / "never": any of these (or any PREFIXES verb) means keep.
NEGATABLE = r"(?:touch|change|modify|edit|alter|process|mess with|mess up|do anything (?:to|with)|work on)"

#: Adjectives after the target (make/keep sense): "make the dog sharper", "keep it as is".
SUFFIXES: dict[str, tuple[str, ...]] = {
    r"clear|clearer|more clear|crystal clear|clean|cleaner|better|nicer|good|good again|"
    r"look better|look good|look nice|look new|like new|restored|fixed|enhanced|improved|"
    r"more detailed|detailed|high quality|higher quality|hq|less damaged|readable|legible|"
    r"recogni[sz]able|visible|more visible": ("restore",),
    r"sharp|sharper|more sharp|sharpened|crisp|crisper|in focus|into focus|focused|more in focus|"
    r"less blurry|less blurred|less soft|not blurry|blur-free|unblurred|deblurred|tack sharp": ("deblur",),
    r"less noisy|less grainy|noise-free|noise free|noiseless|without noise|grain-free|smooth|"
    r"smoother|denoised|not noisy|not grainy|clean of noise": ("denoise",),
    r"less blocky|less pixelated|artifact-free|artefact-free|without artifacts|"
    r"without (?:jpe?g |compression )artifacts|not blocky|dejpegged": ("dejpeg",),
    r"bokeh|bokeh blur|bokeh blurred|blurred|blurry|blur|blurrier|more blurry|out of focus|"
    r"defocused|soft-focus": ("bokeh",),
    r"as is|as-is|as it is|as they are|as it was|as they were|the way it is|the way they are|"
    r"how it is|how they are|untouched|unchanged|alone|intact|the same|original|unedited|"
    r"unprocessed|natural|unrestored|out of it|out": ("keep",),
}
#: Adjectives that ask for something Restora does not do ("make the dog purple").
UNSUPPORTED_ADJECTIVES = (
    r"(?:more )?(?:red|orange|yellow|green|blue|purple|violet|pink|brown|black|white|gr[ae]y|gold|"
    r"golden|silver|black-and-white|colou?rful|colou?red|sepia|grayscale|greyscale|monochrome|"
    r"brighter|darker|bright|dark|lighter|bigger|smaller|larger|wider|taller|shorter|thinner|"
    r"fatter|happier|happy|sad|younger|older|prettier|beautiful|more beautiful|funny|funnier|"
    r"warmer|cooler|warm|cool|vivid|vibrant|saturated|more saturated|transparent|invisible|"
    r"disappear|vanish|go away|smile|smiling|cartoon|cartoonish|vintage|retro|a cartoon|"
    r"a painting|an anime|anime|hd|4k|8k|higher resolution|bigger resolution)"
)
#: Verbs that ask for something Restora does not do ("remove the dog", "colorize it").
UNSUPPORTED_VERBS = (
    r"(?:remove|delete|erase|add|insert|replace|swap|change|colou?ri[sz]e|recolou?r|paint|draw|"
    r"crop|rotate|flip|mirror|resize|scale|upscale|upsample|enlarge|zoom|brighten|darken|tint|"
    r"saturate|desaturate|move|put|cut|generate|create|animate|cartoonify|invert|stretch|shrink|"
    r"straighten|tilt|translate|write|print|send|email|share|save|download|open|close|show|tell|"
    r"explain|describe|count|find|identify|recognize|recognise|search|buy|order|play|sing)"
)

#: Degradation predicates: "the grass looks noisy", "it is a bit blurry", "the sky has noise".
COPULA = r"(?:is|are|was|were|looks?|seems?|appears?|gets?|got|became|has become|have become|is getting)"
PREDICATE_ADVERBS = (
    r"(?:too|very|really|so|quite|kind of|kinda|sort of|a bit|a little|a little bit|slightly|"
    r"still|somewhat|rather|pretty|super|extremely|way too|a tad|totally|completely|all|a lot|"
    r"badly|heavily|horribly|terribly|awfully|incredibly|also)"
)
DEGRADATIONS: dict[str, tuple[str, ...]] = {
    r"noisy|grainy|speckled|speckly|full of noise|full of grain|covered in noise|noise-ridden": ("denoise",),
    r"blurry|blurred|blury|out of focus|not sharp|not in focus|unsharp|fuzzy|soft|smeared|shaky|"
    r"motion-blurred|motion blurred|unfocused|not sharp enough|not crisp": ("deblur",),
    r"blocky|pixelated|pixelly|over-compressed|overcompressed|compressed|jpeg-y|jpeggy|"
    r"full of (?:jpe?g |compression )?artifacts|full of blocks|artifacted": ("dejpeg",),
    r"damaged|degraded|low quality|low-quality|bad|terrible|awful|old|faded|washed out|dull|"
    r"unclear|not clear|messy|dirty|ugly|poor|low-res|low res|low resolution|scratched|worn|"
    r"ruined|muddy|murky|hazy|not great|not good|blotchy": ("restore",),
}
#: Degradations named as nouns: "there is noise in the sky", "the face has jpeg artifacts".
DEGRADATION_NOUNS: dict[str, tuple[str, ...]] = {
    NOISE: ("denoise",), BLUR: ("deblur",), JPEG: ("dejpeg",), DAMAGE: ("restore",),
}

# -- targets ---------------------------------------------------------------------------------
#: Leading words dropped from targets (articles, possessives, quantifiers).
DETERMINERS = (
    r"(?:the|a|an|my|his|her|their|our|your|its|this|that|these|those|all of|all|both of|both|"
    r"each of|each|every|some of|some|any|whole of|entire)"
)
#: Degradation adjectives dropped from the front of a target ("the blurry face" → "face");
#: they hint which action a generic verb means ("fix the blurry face" → deblur).
TARGET_DEGRADATIONS: dict[str, tuple[str, ...]] = {
    r"noisy|grainy": ("denoise",),
    r"blurry|blurred|out-of-focus|unfocused|fuzzy": ("deblur",),
    r"blocky|pixelated|compressed|jpeg-y": ("dejpeg",),
    r"old|damaged|degraded|faded|low-quality|low quality|scratched|dirty": ("restore",),
}
IMAGE_WORDS = (
    r"(?:(?:whole|entire|full|complete|overall) )?(?:image|photo|photograph|picture|pic|shot|"
    r"scene|frame|snapshot|selfie|portrait)s?|whole thing|everything|all|it all|all of it|"
    r"the lot|whole|overall|every part|everywhere|all over|(?:(?:image|photo|picture|overall) )?quality|"
    r"quality of (?:the |this |my )?(?:image|photo|picture)|"
    r"(?:image|photo|picture|pic) (?:i|we) (?:uploaded|sent(?: you)?|attached|shared|gave you|just sent)"
)
BACKGROUND_WORDS = (
    r"(?:the )?other parts?|(?:the )?other areas?|(?:the )?other regions?|rest|the rest|"
    r"rest of (?:it|the (?:image|photo|picture|scene))|everything else|all else|anything else|"
    r"background|backgrounds|bg|back ground|surroundings|remaining parts?|remainder|remaining|"
    r"everything around (?:it|them)|what is left|everything behind (?:it|them)"
)
PRONOUNS_ONE = r"it|that|this|him|her|that one|this one|that part|this part|this area|that area"
PRONOUNS_MANY = r"them|they|those|these|both|all of them|both of them|those parts|these parts"
#: Words that cannot be part of a region name; a phrase containing one is not a target
#: ("the weather is nice", "what can i say").
NON_TARGET_WORDS = frozenset(
    "is are was were be been being am do does did can could would should will shall may might "
    "must have has had i you me we us he she they what why how who when please thanks thank "
    "hello hi hey not no yes yeah ok okay lol want like love need wish think know see feel "
    "hate cannot wont let if undo redo reset revert looks seems appears looked seemed".split()
)

# -- fillers and conversation ----------------------------------------------------------------
#: Politeness and hedges dropped from the start of a message or clause.
POLITE_LEAD = (
    r"(?:thanks (?:a lot|so much|very much|a bunch|a ton)|thank you (?:so much|very much|a lot)|"
    r"many thanks|much appreciated|hi|hello|hiya|yo|good (?:morning|afternoon|evening)|dear restora|"
    r"restora|hey there|hi there|hello there|"
    r"hey|ok|okay|so|well|now|hmm+|um+|uh+|alright|right|great|nice|cool|thanks|thank you|"
    r"could you|can you|would you|will you|could u|can u|would you mind|i would like you to|"
    r"i would like|i want you to|i want|i need you to|i need|i would love you to|i would love|"
    r"i would appreciate it if you could|let us|go ahead and|try to|help me|maybe|actually|"
    r"you can|you could|i wish you would|can we|could we|we need to|i would prefer)"
)
#: Connectives dropped from the start of a clause ("and then sharpen it"). At the start of a
#: whole message, "also / and / plus" mark an addition to the previous plan.
CONNECTIVES = (
    r"(?:also|and|plus|additionally|but|then|and then|and also|after that|next|first|finally|"
    r"lastly|afterwards|in addition|as well as|so)"
)
#: Dropped from the end of a message or clause.
TRAIL_POLITE = (
    r"(?:thanks (?:a lot|so much|very much|a bunch|a ton)|thank you (?:so much|very much|a lot)|"
    r"many thanks|much appreciated|if (?:that|it) is (?:ok|okay|possible|alright|fine)|"
    r"if you do not mind|when you can|when you get a chance|"
    r"so (?:that )?(?:i|we|you|one|people) (?:can|could|will|would) [a-z' ]+|"
    r"thanks|thank you|thx|for me|if you can|if possible|if you could|now|again|ok|okay|"
    r"in this photo|in the photo|in this image|in the image|in the picture|in this picture|here|"
    r"too much to ask|with care|with great care|with a lot of care|carefully|nicely|instead|"
    r"(?<!really )(?<!very )(?<!super )(?<!extra )well)"
)
#: At the end of a whole message these mark an addition to the previous plan ("the sky too").
TRAIL_ADDITION = r"(?:too|as well|also|in addition)"
#: The unedited photo, as people name it: "the original", "my first version", "the photo i uploaded".
ORIGINAL = (
    r"(?:the |my |your |that |its |their )?(?:very )?(?:(?:original|unedited|untouched|unprocessed|"
    r"unrestored|"
    r"initial|starting)(?: (?:image|photo|photograph|picture|pic|version|one|state|file|upload|shot|"
    r"input|copy))?|first (?:version|state)|(?:raw|uploaded|source) (?:image|photo|picture|file|version))|"
    r"(?:the |my )?(?:image|photo|picture|version|one|file) (?:i|we) (?:uploaded|sent(?: you)?|started with|"
    r"gave you|began with)|(?:how|the way) it (?:was|looked)"
    r"(?: (?:before|at first|originally|at the start))?|(?:the )?(?:very )?(?:beginning|start)|square one|"
    r"the before(?: (?:version|image|photo|picture|one|state))?|"
    r"(?:the )?defaults?(?: settings)?"
)
#: Everything the user changed so far: "all the changes", "every edit", "everything".
ALL_CHANGES = (
    r"(?:everything|all|it all|all of it|all of that|the lot|every (?:change|edit|step)|"
    r"(?:all )?(?:the |my |your |of the |of my |these |those )?(?:changes|edits|restorations|"
    r"adjustments|steps|modifications|fixes))(?: (?:so far|you (?:made|did)|i (?:made|asked for)|made|done))?"
)
#: The last change: "that", "my last edit", "the previous step".
LAST_CHANGE = (
    r"(?:it|that|this|(?:the|my|your|that|this) (?:last |latest |previous |most recent )?(?:change|step|"
    r"edit|restoration|one|request|instruction|adjustment|thing(?: you did)?)|last (?:change|step|edit)|"
    r"what you (?:just )?did)"
)
#: Commands are matched against the whole message (after COMMAND_LEAD, before COMMAND_TRAIL).
#: Reset is tried first, so "go back to the original" is a reset and "go back" an undo.
COMMANDS: dict[str, str] = {
    "reset": rf"(?:reset|revert|return|go back|get back|switch back|change (?:it|this|that) back|"
             r"put (?:it|this|that|everything) back|set (?:it|this|everything) back|turn (?:it|this) back|"
             r"take (?:me|it|us) back|bring (?:back|it back|me back)|roll (?:it |everything )?back|"
             r"back|go|switch|jump back|start again|start over|start|begin again)"
             r"(?: (?:it|this|everything|all|"
             rf"the (?:image|photo|picture)))?(?: (?:back|all the way back))?(?: (?:to|into|from|with))? "
             rf"(?:{ORIGINAL})|reset(?: (?:it|this|everything|all|the (?:image|photo|picture)|"
             rf"{ALL_CHANGES}))?|"
             r"start (?:over|again|afresh|anew|fresh|from scratch)(?: again)?(?: (?:from scratch|"
             r"from the (?:beginning|start|original)))?|from scratch|"
             rf"(?:undo|revert|discard|drop|remove|clear|scrap|throw away|throw out|cancel|wipe|erase|"
             rf"forget|lose|get rid of|reverse|roll back|ditch|delete) (?:{ALL_CHANGES})|"
             rf"(?:(?:show|give|let)(?: me| us)? |let (?:me|us) (?:see|have|view|look at) |"
             rf"(?:get|give|bring)(?: me| us)? back |"
             rf"(?:can|could|may) (?:i|we) (?:see|have|get) |(?:i|we) (?:want|would like|need|wanna)(?: to)?"
             rf"(?: (?:see|have|get|view|look at))? |get |bring |view |display |"
             rf"compare (?:it )?(?:to|with) )?"
             rf"(?:{ORIGINAL})(?: (?:again|back))?|"
             r"restore (?:the |my )?original(?: (?:image|photo|picture|version))?|clear (?:everything|all)|"
             rf"restore (?:it |this |everything |the (?:image|photo|picture) )?(?:back )?to (?:{ORIGINAL})|"
             r"begin again|(?:throw|toss|scrap|wipe|clear) (?:it all|everything|all of it|all (?:the |my )?"
             r"(?:changes|edits)) (?:away|out)(?:,? and start (?:over|again))?|put (?:everything|it all) back"
             r"(?: (?:the way it was|how it was))?",
    "redo": r"redo(?: (?:it|that|this|the last (?:change|step|edit|one)|(?:my|the) (?:change|edit)))?|"
            r"go forward(?: (?:one|a) step)?|step forward|forward|next version|(?:bring|put) (?:it|that) "
            r"back|undo the undo|undo (?:my|the|that) undo|"
            r"reapply(?: it| that| the (?:last )?(?:change|edit))?|"
            r"re-?do (?:the )?(?:last )?(?:change|edit)|(?:do|apply) (?:it|that) again after all",
    "undo": rf"(?:undo|revert|cancel|roll ?back|reverse)(?: {LAST_CHANGE})?|"
            r"(?:roll|take) (?:it|that|this) back|(?:go )?back to before|"
            r"go back(?: (?:one|a|1)(?: step| version)?)?(?: please)?|"
            r"step back|(?:one|a) step back|back(?: (?:one|a) step)?|"
            r"(?:(?:go|switch|get|jump|revert|return|change it|take me) back to |go |switch |show |show me |"
            r"back to |return to |revert to |i prefer |i preferred |"
            r"give me |bring back )?(?:the )?(?:previous|earlier|prior)(?: (?:version|image|photo|one|"
            r"step|result))?(?: was better)?|take (?:it|that|this) back|"
            r"scratch that|forget (?:it|that)|(?:remove|discard|drop|ditch|lose|get rid of) (?:that|this|"
            r"the|my) (?:last |latest |previous )?(?:change|edit|step|restoration)|"
            r"(?:that|this|it) (?:was|is|looks) worse|"
            r"i liked it better before|it was better before",
    "help": r"help|help me|i need help|\?+|what can you do|what can i (?:say|ask|do|type|write)|"
            r"what do you do|what are you|who are you|what is this|how does (?:this|it) work|"
            r"how (?:do|can|should) i use (?:this|it|you)|how to use(?: this| it)?|(?:show )?(?:me )?"
            r"(?:some )?examples?|commands|what commands(?: are there| do you (?:know|understand))?|"
            r"what are (?:the|my|your) (?:options|commands)|usage|instructions|options|"
            r"what can (?:i|you) restore|what do i (?:do|say|type)|how does this work",
}
COMMAND_LEAD = (
    r"(?:(?:oops|no|nope|ugh|hmm+|ok|okay|please|hey|actually|sorry|wait|meh|just|so|well|right|"
    r"yeah|hm|uh|um|on second thought|i do not like (?:it|that|this)(?: at all)?|i hate (?:it|that|this)|"
    r"(?:that|this|it) is not (?:right|good|it|what i wanted)|not good|"
    r"(?:that|this|it) (?:looks|is|was) (?:worse|wrong|bad|awful|terrible)|"
    r"i changed my mind|never mind|nevermind|forget it|you know what|"
    r"can you|could you|would you|will you|can u|could u|can we|could we|let us|let me|i want to|"
    r"i would like to|i need to|i wanna|we should|you can|maybe|go ahead and|try to|quickly|simply),? )*"
)
COMMAND_TRAIL = (
    r"(?:,? (?:please|pls|thanks|thank you|now|for me|instead|then|if you can|if possible|again|"
    r"right now|for now|quickly|i guess|already))*"
    # a reason after the command: "undo that, it's too strong"
    r"(?:,? (?:because |as |since )?(?:it|that|this) (?:is|was|looks|looked|got|seems) (?:now )?"
    r"(?:(?:a bit |way |much |far |kind of |a little )?(?:too|so|very|really) [a-z]+|worse|wrong|bad|awful|"
    r"terrible|ugly|weird|off|not (?:good|right|better|great|what i wanted)|overdone|overcooked))?"
)
GREETINGS = (
    r"(?:hi|hello|hey|hiya|yo|good (?:morning|afternoon|evening)|great|nice|cool|awesome|perfect|"
    r"ok|okay|bye|goodbye|lol|wow|thanks|thank you|thx|cheers|ty)(?: there| restora| a lot| so much)?"
)

EXAMPLES = (
    "“make the dog clear with 0.5 and keep other parts bokeh blur with 0.8”",
    "“denoise the sky and sharpen the man on the left”",
    "“only the flowers, gently”",
)
_TRY = "Try for example " + ", ".join(EXAMPLES) + "."
STRENGTH_HINT = (
    "A strength is a fidelity between 0 and 2 (1 is neutral, lower restores more strongly), or a "
    "word such as “strongly” or “slightly”."
)
HELP_MESSAGE = (
    "I restore photos region by region: make a region clear, denoise, sharpen, remove JPEG "
    f"artifacts, keep or add background blur, or leave parts untouched. {_TRY} {STRENGTH_HINT} "
    "Afterwards you can say “stronger”, “a bit less”, “also the sky”, “undo”, “redo” or "
    "“start over”."
)
EMPTY_MESSAGE = f"Tell me what to restore. {_TRY}"
GREETING_MESSAGE = f"Hello! Send me a photo and tell me what to restore. {_TRY}"
THANKS_MESSAGE = f"You're welcome! Anything else to restore? {_TRY}"
NOT_UNDERSTOOD_MESSAGE = f"I did not find anything to restore in that. {_TRY}"
UNSUPPORTED_MESSAGE = (
    "I can only restore photos (make regions clear, denoise, sharpen, remove JPEG artifacts, "
    "keep or add background blur), so I can't do “{request}”. " + _TRY
)
NOTHING_TO_ADJUST_MESSAGE = (
    "There is nothing to adjust yet: “{request}” refers to an earlier restoration. What should I "
    f"restore first? {_TRY}"
)
STRENGTH_ONLY_MESSAGE = (
    "“{request}” is a strength, but there is no restoration to apply it to yet. Which region should "
    "I restore with it, and how (restore, denoise, sharpen, remove JPEG artifacts, blur)? For example "
    "“restore the dog {example}” or “denoise everything {example}”."
)
#: A reply beside the plan when only part of a message was understood.
PARTIAL_MESSAGE = "I understood {understood}; I did not understand {skipped}, so I left that out."
TOO_LONG_MESSAGE = "That message is too long for me ({n} characters; at most {limit}). " + _TRY

#: Actions that restore (a refinement's "stronger"/"weaker" adjusts these, not keep/bokeh).
RESTORING = ("restore", "denoise", "deblur", "dejpeg")
ACTIONS = ("restore", "denoise", "deblur", "dejpeg", "bokeh", "keep")
