"""Whole-clause idioms for the rule parser (issue #22's wording), as patterns over normalised text.

Shared actions ("take the noise and blur out of the sky", "noise and blur removal on the face",
"the sky needs denoising"), protective clauses ("but keep skin texture", "not too much"), and
action nouns with a strength ("crank up the sharpness", "give the background more bokeh", "make
the bokeh stronger"). ``parsers.reading`` reads them; the word lists are in
``parsers.vocabulary``.
"""

from __future__ import annotations

from parsers import vocabulary as voc
from parsers.text import _rx

_WHERE = r"(?:in|on|around|at|over|across|of|from)"
_OUT_OF = _rx(rf"^{voc.OUT_VERBS} (?P<l>(?:(?!\b(?:out|off)\b).)+?) (?:out|off) (?:of|from) ")
_NOUNS_REMOVAL = _rx(rf"\b(?P<a>{voc.alt(voc.DEGRADATION_NOUNS)})(?P<b>(?:,? (?:and|&|plus) |, )"
                     rf"{voc.alt(voc.DEGRADATION_NOUNS)}) (?:removal|reduction|clean-?up|correction) "
                     r"(?:on|in|for|from|of) ")
_NEEDS = _rx(rf"^(?P<t>.+?) (?:needs?|requires?|could use|could do with|would benefit from|wants?) "
             rf"(?:(?:some|a|an|a bit of|a lot of|more) )?(?P<n>{voc.alt(voc.ACTION_NOUNS)})$")
_PROTECT = _rx(rf"^(?:(?:but|and|while|yet|though|just|also|please|i want to|i would like to|try to|to|"
               rf"make sure to|make sure you|be sure to|remember to) )*(?:{voc.PROTECT_VERBS} "
               rf"(?:(?:the|my|his|her|their|our|your) )?(?P<tp>[a-z]+(?: [a-z]+)?)(?:'s|') "
               rf"(?P<qp>(?:{voc.QUALITY_MODIFIERS} )*(?:[a-z-]+ )?{voc.QUALITY_NOUNS})|{voc.PROTECT_VERBS} "
               rf"(?P<q>{voc.QUALITIES})(?: (?:{_WHERE}|along|near|throughout) (?P<t>.+?))?"
               r"(?: (?:natural|intact|alive|visible|untouched|as (?:is|they are|it is)))?|"
               rf"{voc.GENTLER_CLAUSES})"
               r"(?: (?:though|tho|too|as well|if possible|if you can|please))?$")
_ACTION_NOUN = voc.alt(voc.ACTION_NOUNS)
_ACTION_NOUN_TABLE = [(_rx(src), actions) for src, actions in voc.ACTION_NOUNS.items()]
_RAISE_TABLE = [(_rx(src), value) for src, value in voc.RAISE_VERBS.items()]
_RAISE_VERB = voc.alt(voc.RAISE_VERBS)
_PARTICLE_VERB = r"(?:turn|crank|bump|pump|dial|ramp|jack|step|push|kick|max)"
_RAISE = _rx(rf"^(?:(?P<v>{_RAISE_VERB}) (?:the |some |a bit of |your )?(?P<n>{_ACTION_NOUN})|"
             rf"(?P<v2>{_PARTICLE_VERB}) (?:the |your )?(?P<n2>{_ACTION_NOUN}) (?P<p>up|out))"
             rf"(?: (?:on|of|for|in|to|at|across) (?P<t>.+))?$")
_NOUN_ON = _rx(rf"^(?:(?:an?|some|the) )?(?P<n>{_ACTION_NOUN}) (?:on|for|to|in|of|across) (?P<t>.+)$")
_GIVE = _rx(rf"^(?:give|let|treat) (?P<t>.+?) (?:(?:an?|some|the) )?(?:(?:good|nice|quick|proper|decent|"
            rf"careful|real) )?(?P<n>{voc.GIVE_NOUNS}|clean|scrub|polish|once-over|going-over)$")
_NOUN_ADJ = _rx(rf"^(?:make|have|get|i want|i would like) (?:the |your )?(?P<n>{voc.GIVE_NOUNS}) "
                rf"(?:(?:on|of|for|in) (?P<t>.+?) )?(?P<a>{voc.alt(voc.INTENSITY_ADJECTIVES)})$")
