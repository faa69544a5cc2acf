"""The parser's case table: instruction → exact EditPlan.

Used by ``tests/test_parser.py`` (every case must pass) and ``benchmarks/parser_accuracy.py``
(accuracy and latency). Each edit is written ``(target, action, fidelity)``. A case expects
either a plan (``edits`` + ``command``), an ``InstructionError`` (``error=True``), or a reply
with no edits (``reply=True``). ``previous`` is the plan of the last restoring turn; a case with
``refinement=True`` expects ``changes`` to be set; one with ``note=True`` expects a plan that also
says which part of the message was not understood (``message`` beside the edits).

The groups after REFINEMENTS (issue #22) are wording written independently of the parser's own
phrasing: commands in ordinary words, several actions on one region, intensifiers and
comparatives, protective clauses ("but keep skin texture"), a bare strength with nothing before
it (a question back), non-numbers as strengths, and partly understood messages.
"""

from __future__ import annotations

from dataclasses import dataclass

EditRow = tuple[str, str, "float | None"]


@dataclass(frozen=True)
class Case:
    text: str
    edits: tuple[EditRow, ...] = ()
    command: str | None = None
    previous: tuple[EditRow, ...] | None = None
    error: bool = False
    reply: bool = False
    refinement: bool = False
    note: bool = False
    group: str = ""

    @property
    def expected(self) -> dict:
        """The exact ``EditPlan.to_dict()`` this case expects."""
        return {"edits": [{"target": t, "action": a, "fidelity": f} for t, a, f in self.edits],
                "command": self.command}


def _group(name: str, rows: list[tuple]) -> list[Case]:
    """Rows are ``(text, [edits])`` or ``(text, [edits], {Case fields})``."""
    cases = []
    for row in rows:
        extra = row[2] if len(row) > 2 else {}
        cases.append(Case(text=row[0], edits=tuple(row[1]), group=name, **extra))
    return cases


R, N, B, J, K, H = "restore", "denoise", "deblur", "dejpeg", "keep", "bokeh"
IMG, BG = "image", "background"
ERR = {"error": True}
REPLY = {"reply": True}
NOTE = {"note": True}

TEMPLATES = _group("template", [
    ("make the dog clear with 0.5 and keep other parts clear with 1.0", [("dog", R, 0.5), (BG, R, 1.0)]),
    ("make the dog clear with 0.5 and keep other parts bokeh blur with 0.8", [("dog", R, 0.5), (BG, H, 0.8)]),
    ("make the dog clear with 0.5 and keep the bokeh blur of other parts with 0.8",
     [("dog", R, 0.5), (BG, H, 0.8)]),
    ("Make The Dog Clear With 0.5 And Keep Other Parts Clear With 1.0", [("dog", R, 0.5), (BG, R, 1.0)]),
    ("make the dog clear with 0.5, and keep other parts clear with 1.0.", [("dog", R, 0.5), (BG, R, 1.0)]),
    ("make the dog clear with 0.5; keep other parts bokeh blur with 0.8", [("dog", R, 0.5), (BG, H, 0.8)]),
    ("make the dog clear with 0.5 & keep other parts clear with 1", [("dog", R, 0.5), (BG, R, 1.0)]),
    ("  make   the dog  clear with 0.5   and keep other parts clear with 1.0  !!",
     [("dog", R, 0.5), (BG, R, 1.0)]),
    ("please make the dog clear with 0.5 and keep other parts clear with 1.0 please",
     [("dog", R, 0.5), (BG, R, 1.0)]),
    ("make the man and woman clear with 0.3 and keep other parts bokeh blur with 1.2",
     [("man and woman", R, 0.3), (BG, H, 1.2)]),
    ("make the bird on the branch clear with 0.2 and keep other parts clear with 0.9",
     [("bird on the branch", R, 0.2), (BG, R, 0.9)]),
    ("make the red car clear with 0,5 and keep other parts clear with 1,0",
     [("red car", R, 0.5), (BG, R, 1.0)]),
    ("make the cat clear with 50% and keep other parts bokeh blur with 80%", [("cat", R, 0.5), (BG, H, 0.8)]),
    ("make the cat clear with .5 and keep other parts clear with .9", [("cat", R, 0.5), (BG, R, 0.9)]),
    ("MAKE THE FACE CLEAR WITH 0 AND KEEP OTHER PARTS CLEAR WITH 2", [("face", R, 0.0), (BG, R, 2.0)]),
    ("Could you make the lighthouse clear with 0.4 and keep other parts bokeh blur with 0.6?",
     [("lighthouse", R, 0.4), (BG, H, 0.6)]),
    ("make my son's face clear with 0.3 and keep the bokeh blur of other parts with 1.5",
     [("son's face", R, 0.3), (BG, H, 1.5)]),
    ("make the dog clear with 0.5 and keep other parts clear with 1.0, thanks",
     [("dog", R, 0.5), (BG, R, 1.0)]),
    ("make the dog clear with 0.5 and keep other parts with 0.8", [("dog", R, 0.5), (BG, R, 0.8)]),
    ("make the dog clear with 0.5 and keep other parts bokeh with 0.8", [("dog", R, 0.5), (BG, H, 0.8)]),
    ("make the dog clear and keep other parts bokeh blur", [("dog", R, None), (BG, H, None)]),
    ("make the dog clear with 0.5 and keep other parts clear with 2.5", [], ERR),
    ("make the dog clear with 0.5.3 and keep other parts clear with 1.0", [], ERR),
    ("make the dog clear with -1 and keep other parts clear with 1.0", [], ERR),
])

ACTIONS = _group("action", [
    # restore
    ("restore the dog", [("dog", R, None)]),
    ("enhance the photo", [(IMG, R, None)]),
    ("fix the old photo", [(IMG, R, None)]),
    ("improve the faces", [("faces", R, None)]),
    ("clean up the picture", [(IMG, R, None)]),
    ("make the sign clearer", [("sign", R, None)]),
    ("restore", [(IMG, R, None)]),
    ("make it clear", [(IMG, R, None)]),
    ("make everything clear", [(IMG, R, None)]),
    ("restore the whole image", [(IMG, R, None)]),
    ("enhance the entire picture with 0.8", [(IMG, R, 0.8)]),
    ("bring out the details in the face", [("face", R, None)]),
    ("make the text on the sign readable", [("text on the sign", R, None)]),
    ("restore the 2 kids", [("2 kids", R, None)]),
    ("restore both people", [("people", R, None)]),
    ("clean it up", [(IMG, R, None)]),
    # denoise
    ("denoise the sky", [("sky", N, None)]),
    ("remove noise from the sky", [("sky", N, None)]),
    ("reduce the grain in the shadows", [("shadows", N, None)]),
    ("the sky is noisy", [("sky", N, None)]),
    ("the photo looks grainy", [(IMG, N, None)]),
    ("get rid of the noise on the face", [("face", N, None)]),
    ("remove the noise", [(IMG, N, None)]),
    ("denoise everything gently", [(IMG, N, 1.5)]),
    ("there is a lot of noise in the sky", [("sky", N, None)]),
    ("the wall has noise", [("wall", N, None)]),
    ("make the sky less noisy", [("sky", N, None)]),
    ("clean up the noise in the background", [(BG, N, None)]),
    ("noise reduction on the walls", [("walls", N, None)]),
    ("apply light denoising to the sky", [("sky", N, 1.5)]),
    ("too much noise", [(IMG, N, None)]),
    ("denoise", [(IMG, N, None)]),
    # deblur
    ("sharpen the face", [("face", B, None)]),
    ("deblur the text", [("text", B, None)]),
    ("unblur the license plate", [("license plate", B, None)]),
    ("make the face sharper", [("face", B, None)]),
    ("I'd like the eyes sharper", [("eyes", B, None)]),
    ("the photo is blurry", [(IMG, B, None)]),
    ("the car looks out of focus", [("car", B, None)]),
    ("remove the blur from the sign", [("sign", B, None)]),
    ("fix the motion blur on the runner", [("runner", B, None)]),
    ("bring the dog into focus", [("dog", B, None)]),
    ("focus on the bird", [("bird", B, None)]),
    ("sharpen", [(IMG, B, None)]),
    ("make it a bit crisper", [(IMG, B, 1.5)]),
    ("sharpen the man on the left strongly", [("man on the left", B, 0.5)]),
    # dejpeg
    ("remove jpeg artifacts", [(IMG, J, None)]),
    ("remove the compression artifacts from the sky", [("sky", J, None)]),
    ("the sky is blocky", [("sky", J, None)]),
    ("fix the blockiness in the clouds", [("clouds", J, None)]),
    ("dejpeg the logo", [("logo", J, None)]),
    ("the photo looks pixelated", [(IMG, J, None)]),
    ("reduce JPEG artefacts on the face", [("face", J, None)]),
    ("deblock the background", [(BG, J, None)]),
    ("get rid of the jpeg compression artifacts", [(IMG, J, None)]),
    # bokeh
    ("blur the background", [(BG, H, None)]),
    ("add bokeh", [(BG, H, None)]),
    ("keep the background bokeh", [(BG, H, None)]),
    ("add some background blur", [(BG, H, None)]),
    ("keep the bokeh", [(BG, H, None)]),
    ("make the background blurry", [(BG, H, None)]),
    ("add a bokeh effect to the background", [(BG, H, None)]),
    ("keep background blurred with 0.9", [(BG, H, 0.9)]),
    ("blur the sky", [("sky", H, None)]),
    # keep
    ("keep the clouds as they are", [("clouds", K, None)]),
    ("leave the sky alone", [("sky", K, None)]),
    ("don't touch the face", [("face", K, None)]),
    ("do not change the text", [("text", K, None)]),
    ("leave the background untouched", [(BG, K, None)]),
    ("keep the face unchanged", [("face", K, None)]),
    ("never sharpen the sky", [("sky", K, None)]),
    ("protect the logo", [("logo", K, None)]),
    ("keep the sky", [("sky", K, None)]),
])

COMBINATIONS = _group("combination", [
    # several regions
    ("the dog with 0.5 and the grass with 1.2", [("dog", R, 0.5), ("grass", R, 1.2)]),
    ("the dog and the cat", [("dog", R, None), ("cat", R, None)]),
    ("restore the dog and the cat", [("dog", R, None), ("cat", R, None)]),
    ("restore the dog, the cat and the bird", [("dog", R, None), ("cat", R, None), ("bird", R, None)]),
    ("restore the dog and the cat with 0.5", [("dog", R, 0.5), ("cat", R, 0.5)]),
    ("restore the dog with 0.5 and the cat", [("dog", R, 0.5), ("cat", R, None)]),
    ("denoise the sky and sharpen the face", [("sky", N, None), ("face", B, None)]),
    ("sharpen the face, denoise the sky, and remove jpeg artifacts from the sign",
     [("face", B, None), ("sky", N, None), ("sign", J, None)]),
    ("make the dog and the cat clear", [("dog", R, None), ("cat", R, None)]),
    ("make the dog clear and the cat sharper", [("dog", R, None), ("cat", B, None)]),
    ("restore the dog with 0.3 and the grass with 1.5, keep the sky as it is",
     [("dog", R, 0.3), ("grass", R, 1.5), ("sky", K, None)]),
    ("denoise the left wall and the right wall strongly", [("left wall", N, 0.5), ("right wall", N, 0.5)]),
    ("strongly restore the dog and the cat", [("dog", R, 0.5), ("cat", R, 0.5)]),
    ("make the dog clear with 0.5, keep background bokeh", [("dog", R, 0.5), (BG, H, None)]),
    ("restore the bride, then sharpen the groom", [("bride", R, None), ("groom", B, None)]),
    ("make the boy clear with 0.2 and the girl clear with 0.4", [("boy", R, 0.2), ("girl", R, 0.4)]),
    ("restore the dog and cat", [("dog", R, None), ("cat", R, None)]),
    # several actions on one region
    ("denoise and sharpen the cat", [("cat", N, None), ("cat", B, None)]),
    ("sharpen and denoise the cat", [("cat", B, None), ("cat", N, None)]),
    ("denoise, sharpen and restore the face", [("face", N, None), ("face", B, None), ("face", R, None)]),
    ("denoise and sharpen", [(IMG, N, None), (IMG, B, None)]),
    ("make the dog sharp and clean", [("dog", B, None), ("dog", R, None)]),
    ("make it sharper and less noisy", [(IMG, B, None), (IMG, N, None)]),
    ("the sky is noisy and blurry", [("sky", N, None), ("sky", B, None)]),
    ("denoise the sky and sharpen it", [("sky", N, None), ("sky", B, None)]),
    ("denoise and sharpen the cat with 0.5", [("cat", N, 0.5), ("cat", B, 0.5)]),
    ("denoise and deblock the sky gently", [("sky", N, 1.5), ("sky", J, 1.5)]),
    # several sentences, pronouns, described degradations
    ("The grass looks noisy, please clean it up.", [("grass", N, None)]),
    ("The grass looks noisy. Please clean it up.", [("grass", N, None)]),
    ("the photo is blurry, fix it", [(IMG, B, None)]),
    ("Restore the dog. Also sharpen it.", [("dog", R, None), ("dog", B, None)]),
    ("the car looks out of focus, sharpen it with 0.4", [("car", B, 0.4)]),
    ("the dog and the cat look noisy, fix them", [("dog", N, None), ("cat", N, None)]),
    ("Restore the bride. Keep the background blurred!", [("bride", R, None), (BG, H, None)]),
    ("it's blurry", [(IMG, B, None)]),
    ("looks noisy, clean it up", [(IMG, N, None)]),
    ("the sky has jpeg artifacts, fix that", [("sky", J, None)]),
    ("the face is blurry and the sky is noisy", [("face", B, None), ("sky", N, None)]),
    ("The face is blurry. The sky is noisy. Fix both.", [("face", B, None), ("sky", N, None)]),
    ("the sky looks a bit noisy", [("sky", N, None)]),
    ("the grass is noisy, clean it up with 0.6", [("grass", N, 0.6)]),
    ("fix the blurry face", [("face", B, None)]),
    ("restore the noisy sky", [("sky", N, None)]),
    ("the photo looks old and faded, restore it", [(IMG, R, None)]),
    ("there is noise on the wall, fix it please", [("wall", N, None)]),
])

EXCLUSIONS = _group("exclusion", [
    ("only the flowers", [("flowers", R, None), (BG, K, None)]),
    ("restore only the flowers", [("flowers", R, None), (BG, K, None)]),
    ("just the flowers", [("flowers", R, None), (BG, K, None)]),
    ("restore the flowers only", [("flowers", R, None), (BG, K, None)]),
    ("restore the flowers and leave the rest alone", [("flowers", R, None), (BG, K, None)]),
    ("sharpen the dog and nothing else", [("dog", B, None), (BG, K, None)]),
    ("restore everything except the sky", [(IMG, R, None), ("sky", K, None)]),
    ("restore everything but the sky", [(IMG, R, None), ("sky", K, None)]),
    ("restore the photo except the background", [(IMG, R, None), (BG, K, None)]),
    ("denoise the photo but not the face", [(IMG, N, None), ("face", K, None)]),
    ("denoise everything apart from the face and the hands", [(IMG, N, None), ("face", K, None),
                                                              ("hands", K, None)]),
    ("only denoise the sky", [("sky", N, None), (BG, K, None)]),
    ("only the dog, strongly", [("dog", R, 0.5), (BG, K, None)]),
    ("restore the dog, keep everything else as is", [("dog", R, None), (BG, K, None)]),
    ("enhance the face without touching the background", [("face", R, None), (BG, K, None)]),
    ("only slightly restore the dog", [("dog", R, 1.5)]),
    ("make the dog clear with 0.5 and leave the rest untouched", [("dog", R, 0.5), (BG, K, None)]),
    ("restore the photo, not the sky", [(IMG, R, None), ("sky", K, None)]),
    ("just denoise the face and don't touch anything else", [("face", N, None), (BG, K, None)]),
    ("only the flowers, keep background bokeh", [("flowers", R, None), (BG, H, None)]),
    ("not bad", [], REPLY),
])

TARGETS = _group("target", [
    ("sharpen the man on the left", [("man on the left", B, None)]),
    ("make the bush in front of sign clear", [("bush in front of sign", R, None)]),
    ("make the 3rd window from left clear", [("3rd window from left", R, None)]),
    ("restore the woman in the red dress", [("woman in the red dress", R, None)]),
    ("denoise the bench between the tree and the lamp", [("bench between the tree and the lamp", N, None)]),
    ("restore the second car from the right with 0.4", [("second car from the right", R, 0.4)]),
    ("sharpen the sign above the door", [("sign above the door", B, None)]),
    ("restore the man with the hat", [("man with the hat", R, None)]),
    ("restore the man with 2 dogs", [("man with 2 dogs", R, None)]),
    ("make the girl next to the window clear with 60%", [("girl next to the window", R, 0.6)]),
    ("restore the top left corner", [("top left corner", R, None)]),
    ("the dog on the left with 0.5 and the dog on the right with 1.5",
     [("dog on the left", R, 0.5), ("dog on the right", R, 1.5)]),
    ("restore my dog", [("dog", R, None)]),
    ("sharpen his face", [("face", B, None)]),
    ("restore their faces", [("faces", R, None)]),
    ("restore all the flowers", [("flowers", R, None)]),
    ("restore all of the windows", [("windows", R, None)]),
    ("denoise these clouds", [("clouds", N, None)]),
    ("restore our house", [("house", R, None)]),
    ("restore an old car", [("old car", R, None)]),
    ("restore the dog's face", [("dog's face", R, None)]),
    ("restore your photo", [(IMG, R, None)]),
    ("Restore The Eiffel Tower", [("eiffel tower", R, None)]),
    ("restore the rest of the image", [(BG, R, None)]),
    ("denoise everything else", [(BG, N, None)]),
    ("sharpen the other parts", [(BG, B, None)]),
    ("restore the picture", [(IMG, R, None)]),
])

STRENGTHS = _group("strength", [
    ("restore the dog with 0.5", [("dog", R, 0.5)]),
    ("restore the dog at 0.75", [("dog", R, 0.75)]),
    ("restore the dog with fidelity 0.3", [("dog", R, 0.3)]),
    ("restore the dog, fidelity 0.3", [("dog", R, 0.3)]),
    ("restore the dog with a fidelity of 0.3", [("dog", R, 0.3)]),
    ("restore the dog with strength 1", [("dog", R, 1.0)]),
    ("restore the dog: 0.4", [("dog", R, 0.4)]),
    ("restore the dog fidelity=0.4", [("dog", R, 0.4)]),
    ("restore the dog with .75", [("dog", R, 0.75)]),
    ("restore the dog with 0,5", [("dog", R, 0.5)]),
    ("restore the dog at 75%", [("dog", R, 0.75)]),
    ("restore the dog at 75 percent", [("dog", R, 0.75)]),
    ("restore the dog 0.5", [("dog", R, 0.5)]),
    ("restore the dog with 0", [("dog", R, 0.0)]),
    ("restore the dog with 2", [("dog", R, 2.0)]),
    ("restore the dog with 1", [("dog", R, 1.0)]),
    ("restore the dog with 150%", [("dog", R, 1.5)]),
    ("restore the dog with +0.5", [("dog", R, 0.5)]),
    ("restore the dog with 0.5 fidelity", [("dog", R, 0.5)]),
    ("fidelity 0,5 on the dog", [("dog", R, 0.5)]),
    ("0.8 on the dog", [("dog", R, 0.8)]),
    ("set the dog to 0.3", [("dog", R, 0.3)]),
    ("with 0.7", [], REPLY),  # a strength with nothing to apply it to: a question back (issue #22)
    ("restore the dog extremely strongly", [("dog", R, 0.25)]),
    ("restore the dog maximally", [("dog", R, 0.25)]),
    ("restore the dog as much as possible", [("dog", R, 0.25)]),
    ("restore the dog a lot", [("dog", R, 0.5)]),
    ("heavily denoise the sky", [("sky", N, 0.5)]),
    ("make the face much sharper", [("face", B, 0.5)]),
    ("restore the dog more", [("dog", R, 0.75)]),
    ("restore the dog moderately", [("dog", R, 1.0)]),
    ("gently restore the dog", [("dog", R, 1.5)]),
    ("restore the dog a little", [("dog", R, 1.5)]),
    ("lightly denoise the sky", [("sky", N, 1.5)]),
    ("restore the dog a bit", [("dog", R, 1.5)]),
    ("barely restore the dog", [("dog", R, 1.75)]),
    ("very slightly sharpen the face", [("face", B, 1.75)]),
    ("a strong restoration of the dog", [("dog", R, 0.5)]),
    ("a gentle denoise on the sky", [("sky", N, 1.5)]),
    ("restore the dog with a lot of care", [("dog", R, None)]),
    # errors: malformed or out of range, never clamped
    ("restore the dog with 0.5.3", [], ERR),
    ("restore the dog with -1", [], ERR),
    ("restore the dog with 1e9", [], ERR),
    ("restore the dog with 2.5", [], ERR),
    ("restore the dog with abc%", [], ERR),
    ("restore the dog with 250%", [], ERR),
    ("restore the dog at 3", [], ERR),
    ("fidelity 5 on the dog", [], ERR),
    ("restore the dog -1", [], ERR),
    ("denoise the sky with 0..5", [], ERR),
    ("sharpen it with 2.01", [], ERR),
    ("restore the dog with 1,2,3", [], ERR),
    ("restore with 10", [], ERR),
    ("restore the dog with 0.5 and the cat with 7", [], ERR),
])

COMMANDS = [Case(text=t, command=c, group="command") for t, c in [
    ("undo", "undo"), ("Undo!", "undo"), ("undo that", "undo"), ("go back", "undo"),
    ("revert that", "undo"), ("previous version", "undo"), ("take that back", "undo"),
    ("oops, undo", "undo"), ("step back", "undo"), ("undo the last change", "undo"),
    ("redo", "redo"), ("redo that", "redo"), ("go forward", "redo"), ("bring it back", "redo"),
    ("reset", "reset"), ("start over", "reset"), ("Start over please.", "reset"),
    ("back to the original", "reset"), ("go back to the original", "reset"),
    ("revert to the original photo", "reset"), ("start from scratch", "reset"),
    ("show me the original", "reset"),
    ("help", "help"), ("help!", "help"), ("what can you do?", "help"), ("How does this work?", "help"),
    ("what can I say?", "help"), ("?", "help"), ("show me examples", "help"), ("how do i use this", "help"),
]]

CHITCHAT = _group("chitchat", [
    ("", [], REPLY), ("   ", [], REPLY), ("hello", [], REPLY), ("hi there", [], REPLY),
    ("thanks!", [], REPLY), ("thank you so much", [], REPLY), ("make the dog purple", [], REPLY),
    ("remove the dog", [], REPLY), ("add a hat to the man", [], REPLY), ("colorize the photo", [], REPLY),
    ("make it brighter", [], REPLY), ("what's the weather like?", [], REPLY), ("the dog is cute", [], REPLY),
    ("I love this photo", [], REPLY), ("lol", [], REPLY), ("make the sky blue", [], REPLY),
    ("crop the image", [], REPLY), ("turn the photo black and white", [], REPLY),
    ("how are you?", [], REPLY), ("dog", [], REPLY), ("...", [], REPLY), ("🙂", [], REPLY),
])

_A = (("dog", R, 0.5), (BG, H, None))
_B = (("dog", N, None), ("sky", R, 0.1))
_C = ((IMG, R, None),)
_D = (("flowers", R, None), (BG, K, None))


def _refine(previous: tuple[EditRow, ...] | None, rows: list[tuple]) -> list[Case]:
    cases = []
    for text, edits, *extra in rows:
        kind = extra[0] if extra else {"refinement": True}
        cases.append(Case(text=text, edits=tuple(edits), previous=previous, group="refinement", **kind))
    return cases


REFINEMENTS = [
    *_refine(_A, [
        ("stronger", [("dog", R, 0.25), (BG, H, None)]),
        ("a bit less", [("dog", R, 0.65), (BG, H, None)]),
        ("more on the dog", [("dog", R, 0.25), (BG, H, None)]),
        ("also the sky", [("dog", R, 0.5), ("sky", R, 0.5), (BG, H, None)]),
        ("same but 0.8 on the dog", [("dog", R, 0.8), (BG, H, None)]),
        ("much stronger", [("dog", R, 0.0), (BG, H, None)]),
        ("even stronger!", [("dog", R, 0.25), (BG, H, None)]),
        ("tone it down a bit", [("dog", R, 0.65), (BG, H, None)]),
        ("the sky too", [("dog", R, 0.5), ("sky", R, 0.5), (BG, H, None)]),
        ("also denoise the sky", [("dog", R, 0.5), ("sky", N, None), (BG, H, None)]),
        ("less on the sky", [("dog", R, 0.5), ("sky", R, 1.25), (BG, H, None)]),
        ("more on the dog, less on the sky", [("dog", R, 0.25), ("sky", R, 1.25), (BG, H, None)]),
        ("drop the dog", [(BG, H, None)]),
        ("with 0.7", [("dog", R, 0.7), (BG, H, None)]),
        ("it's too strong", [("dog", R, 0.75), (BG, H, None)]),
        ("make the dog a bit stronger", [("dog", R, 0.35), (BG, H, None)]),
        ("set the dog to 0.3", [("dog", R, 0.3), (BG, H, None)]),
        ("much gentler", [("dog", R, 1.0), (BG, H, None)]),
        ("more", [("dog", R, 0.25), (BG, H, None)]),
        ("less", [("dog", R, 0.75), (BG, H, None)]),
        ("Stronger please.", [("dog", R, 0.25), (BG, H, None)]),
        ("a little bit weaker", [("dog", R, 0.65), (BG, H, None)]),
        ("same but stronger on the dog", [("dog", R, 0.25), (BG, H, None)]),
        ("also keep the sky as it is", [("dog", R, 0.5), ("sky", K, None), (BG, H, None)]),
        ("and leave the background alone", [("dog", R, 0.5), (BG, K, None)]),
        ("denoise the sky", [("sky", N, None)], {}),
        ("undo", [], {"command": "undo"}),
        ("same but 3 on the dog", [], ERR),
        ("0.5.3 on the dog", [], ERR),
        ("not the sky", [], REPLY),
        ("no more noise on the sky", [("sky", N, None)], {}),
        ("without the grain please", [], REPLY),
        ("3rd", [], REPLY),
    ]),
    *_refine(_B, [
        ("stronger", [("dog", N, 0.75), ("sky", R, 0.0)]),
        ("not the sky", [("dog", N, None)]),
        ("a little more on the sky", [("dog", N, None), ("sky", R, 0.0)]),
        ("same, but with 0.8", [("dog", N, 0.8), ("sky", R, 0.8)]),
        ("slightly gentler on the dog", [("dog", N, 1.15), ("sky", R, 0.1)]),
        ("the dog with 0.6 too", [("dog", N, 0.6), ("sky", R, 0.1)]),
        ("also the sky", [], REPLY),
    ]),
    *_refine(_C, [
        ("stronger", [(IMG, R, 0.75)]),
        ("way gentler", [(IMG, R, 1.5)]),
        ("also the dog with 0.4", [(IMG, R, None), ("dog", R, 0.4)]),
        ("crank it up", [(IMG, R, 0.75)]),
    ]),
    *_refine(_D, [
        ("also the sky", [("flowers", R, None), ("sky", R, None), (BG, K, None)]),
        ("stronger", [("flowers", R, 0.75), (BG, K, None)]),
        ("and the leaves too", [("flowers", R, None), ("leaves", R, None), (BG, K, None)]),
    ]),
    *_refine(None, [
        ("stronger", [], REPLY),
        ("also the sky", [], REPLY),
        ("same but 0.8 on the dog", [], REPLY),
        ("a bit less", [], REPLY),
        ("more on the dog", [], REPLY),
        ("also denoise the sky", [("sky", N, None)], {}),
    ]),
]

# -- issue #22: wording written independently of the parser's phrasing --------------------------
COMMAND_WORDS = [Case(text=t, command=c, group="command-words") for t, c in [
    # reset: back to the unedited photo, or every change undone
    ("reset it to the original", "reset"), ("return to the original image", "reset"),
    ("switch back to the original version please", "reset"), ("could you revert everything?", "reset"),
    ("revert all changes", "reset"), ("undo all the edits", "reset"), ("undo everything you did", "reset"),
    ("discard every change", "reset"), ("throw away all my edits", "reset"),
    ("let's start again from scratch", "reset"), ("take me back to the unedited photo", "reset"),
    ("I want the original back", "reset"), ("show the original again", "reset"),
    ("can I see the untouched photo?", "reset"), ("go back to the photo I uploaded", "reset"),
    ("put it back the way it was", "reset"), ("back to the start", "reset"),
    ("ok, reset everything", "reset"),
    ("scrap all the changes", "reset"), ("hmm, let's begin again", "reset"),
    ("actually, just give me the original photo", "reset"), ("reset all changes please", "reset"),
    ("get rid of all the edits", "reset"), ("return to how it looked at first", "reset"),
    ("back to square one, please", "reset"), ("I changed my mind, revert to the original picture", "reset"),
    # undo: the last change only
    ("undo my last change", "undo"), ("take it back", "undo"), ("scratch that", "undo"),
    ("go back a step", "undo"), ("revert the last change", "undo"), ("cancel that edit", "undo"),
    ("that looks worse, undo", "undo"), ("I liked it better before", "undo"),
    ("the previous version was better", "undo"), ("one step back please", "undo"),
    ("never mind, roll that back", "undo"),
    ("go back to the previous version", "undo"),
    ("i don't like it, undo", "undo"), ("that's not what I wanted, go back", "undo"),
    ("Return the photo to its original state", "reset"), ("reset to default", "reset"),
    ("Can you undo the last thing you did?", "undo"), ("show me the before version", "reset"),
    ("let me see the original image", "reset"), ("restore to original", "reset"),
    ("start over with the original photo", "reset"), ("go back to before", "undo"),
    ("i want to see the original again", "reset"), ("throw it all away and start again", "reset"),
    ("put everything back", "reset"), ("go back one", "undo"), ("get the original back", "reset"),
    ("get me back the original picture", "reset"), ("can you go back to the first version", "reset"),
    ("discard the last edit", "undo"),
    ("could you undo that?", "undo"), ("ugh, reverse that", "undo"),
    # redo
    ("redo the last change", "redo"), ("actually, bring that back", "redo"),
    ("reapply the last edit", "redo"),
    ("go forward one step", "redo"), ("please redo it", "redo"),
]]

# a command, then an instruction: both (the edits run on the version the command moves to)
COMMAND_WORDS += _group("command-words", [
    ("Undo that, it's too strong", [], {"command": "undo"}),
    ("scratch that, it looks worse", [], {"command": "undo"}),
    ("no, go back to the original and sharpen only the face", [("face", B, None), (BG, K, None)],
     {"command": "reset"}),
    ("undo and denoise the sky instead", [("sky", N, None)], {"command": "undo"}),
    ("start over, then restore the dog with 0.5", [("dog", R, 0.5)], {"command": "reset"}),
    ("revert everything. Denoise the face gently", [("face", N, 1.5)], {"command": "reset"}),
])

MULTI_ACTION = _group("multi-action", [
    ("remove the grain and the jpeg artifacts from the water", [("water", N, None), ("water", J, None)]),
    ("get rid of noise and compression artifacts in the sky", [("sky", N, None), ("sky", J, None)]),
    ("reduce noise and blur on the face", [("face", N, None), ("face", B, None)]),
    ("eliminate the noise, the blur and the blockiness from the sign",
     [("sign", N, None), ("sign", B, None), ("sign", J, None)]),
    ("clean the grain and the scratches off the old photo", [(IMG, N, None), (IMG, R, None)]),
    ("remove blur and noise from the license plate",
     [("license plate", B, None), ("license plate", N, None)]),
    ("fix the blur and the noise on the bride's face",
     [("bride's face", B, None), ("bride's face", N, None)]),
    ("remove the jpeg artifacts and the noise in the background", [(BG, J, None), (BG, N, None)]),
    ("remove noise from the lake and jpeg artifacts too", [("lake", N, None), ("lake", J, None)]),
    ("remove noise and compression blocks from the sky and the sea",
     [("sky", N, None), ("sky", J, None), ("sea", N, None), ("sea", J, None)]),
    ("get rid of both grain and blockiness", [(IMG, N, None), (IMG, J, None)]),
    ("remove both the grain and the blockiness in the clouds", [("clouds", N, None), ("clouds", J, None)]),
    ("take the noise and the blur out of the photo", [(IMG, N, None), (IMG, B, None)]),
    ("get rid of jpeg blockiness and noise on the wall", [("wall", J, None), ("wall", N, None)]),
    ("remove the grain everywhere except the film border", [(IMG, N, None), ("film border", K, None)]),
    ("remove grain and blur, then add bokeh to the background",
     [(IMG, N, None), (IMG, B, None), (BG, H, None)]),
    ("remove noise and compression artifacts but only from the building",
     [("building", N, None), ("building", J, None), (BG, K, None)]),
    ("reduce the noise and jpeg artefacts across the whole picture", [(IMG, N, None), (IMG, J, None)]),
    ("remove noise and jpeg artifacts from the sky strongly", [("sky", N, 0.5), ("sky", J, 0.5)]),
    ("remove scratches and noise from the portrait gently", [(IMG, R, 1.5), (IMG, N, 1.5)]),
    ("sharpen and denoise the portrait", [(IMG, B, None), (IMG, N, None)]),
    ("deblur and dejpeg the text", [("text", B, None), ("text", J, None)]),
    ("denoise, deblock and sharpen the street sign",
     [("street sign", N, None), ("street sign", J, None), ("street sign", B, None)]),
    ("clean up and sharpen the eyes", [("eyes", R, None), ("eyes", B, None)]),
    ("restore and sharpen the old car", [("old car", R, None), ("old car", B, None)]),
    ("sharpen and clean up the faces", [("faces", B, None), ("faces", R, None)]),
    ("denoise then sharpen the sky", [("sky", N, None), ("sky", B, None)]),
    ("first denoise and then deblur the runner", [("runner", N, None), ("runner", B, None)]),
    ("denoise and sharpen the dog strongly", [("dog", N, 0.5), ("dog", B, 0.5)]),
    ("make the bride sharper and cleaner", [("bride", B, None), ("bride", R, None)]),
    ("deblock and denoise the background", [(BG, J, None), (BG, N, None)]),
    ("remove the noise and sharpen the lighthouse", [("lighthouse", N, None), ("lighthouse", B, None)]),
    ("get rid of the blur and the grain on the cat and the dog",
     [("cat", B, None), ("cat", N, None), ("dog", B, None), ("dog", N, None)]),
    ("really sharpen and denoise the face", [("face", B, 0.5), ("face", N, 0.5)]),
    ("the sky needs denoising and sharpening", [("sky", N, None), ("sky", B, None)]),
    ("noise and blur removal on the face", [("face", N, None), ("face", B, None)]),
    ("first remove the noise, then the jpeg artifacts, from the sky", [("sky", N, None), ("sky", J, None)]),
    ("sharpen as well as denoise the face", [("face", B, None), ("face", N, None)]),
    ("the photo could use some sharpening", [(IMG, B, None)]),
    ("gently denoise and sharpen the cat and the dog",
     [("cat", N, 1.5), ("cat", B, 1.5), ("dog", N, 1.5), ("dog", B, 1.5)]),
    ("remove the noise and jpeg artifacts from the sky and the clouds but keep the grain",
     [("sky", N, 1.5), ("sky", J, 1.5), ("clouds", N, 1.5), ("clouds", J, 1.5)]),
    ("denoise and sharpen the man on the left with 0.6",
     [("man on the left", N, 0.6), ("man on the left", B, 0.6)]),
])

INTENSIFIERS = _group("intensifier", [
    ("really sharpen the license plate", [("license plate", B, 0.5)]),
    ("make the eyes super crisp", [("eyes", B, 0.5)]),
    ("thoroughly denoise the night sky", [("night sky", N, 0.5)]),
    ("completely remove the jpeg artifacts", [(IMG, J, 0.25)]),
    ("remove the noise from the sky completely", [("sky", N, 0.25)]),
    ("make the text extra sharp", [("text", B, 0.5)]),
    ("add more blur to the background", [(BG, H, 0.75)]),
    ("make the background still blurrier", [(BG, H, 0.75)]),
    ("blur the background even more", [(BG, H, 0.75)]),
    ("make the face way sharper", [("face", B, 0.5)]),
    ("make the sky far less noisy", [("sky", N, 0.5)]),
    ("make the sign a lot more readable", [("sign", R, 0.5)]),
    ("sharpen the face even more", [("face", B, 0.75)]),
    ("denoise the sky a lot more", [("sky", N, 0.5)]),
    ("make it even crisper", [(IMG, B, 0.75)]),
    ("make the bride's dress much cleaner", [("bride's dress", R, 0.5)]),
    ("super gently denoise the face", [("face", N, 1.75)]),
    ("I really need the text readable", [("text", R, None)]),
    ("I want the water super clean", [("water", R, 0.5)]),
    ("add lots more bokeh", [(BG, H, 0.5)]),
    ("a bit more bokeh on the background", [(BG, H, 1.5)]),
    ("a really thorough cleanup of the photo", [(IMG, R, 0.5)]),
    ("very sharp eyes please", [("eyes", B, 0.5)]),
    ("properly clean up the old car", [("old car", R, 0.5)]),
    ("totally get rid of the grain", [(IMG, N, 0.25)]),
    ("make the waterfall really clear", [("waterfall", R, 0.5)]),
    ("fully restore the faces", [("faces", R, 0.25)]),
    ("really really sharpen the sign", [("sign", B, 0.25)]),
    ("add extra sharpening to the eyes", [("eyes", B, 0.75)]),
    ("much more denoising on the walls", [("walls", N, 0.5)]),
    ("make the trees even more detailed", [("trees", R, 0.75)]),
    ("make the background blurrier", [(BG, H, None)]),
    ("make the face slightly more in focus", [("face", B, 1.5)]),
    ("intensely denoise the shadows", [("shadows", N, 0.5)]),
    ("a heavier denoise on the sky", [("sky", N, 0.75)]),
    ("a lighter denoise on the sky", [("sky", N, 1.25)]),
    ("crisp text on the sign please", [("text on the sign", B, None)]),
    ("make the clouds ultra sharp", [("clouds", B, 0.25)]),
    ("give the background more bokeh", [(BG, H, 0.75)]),
    ("I'd like a much blurrier background", [(BG, H, 0.5)]),
    ("increase the background blur", [(BG, H, None)]),
    ("make the bokeh stronger", [(BG, H, 0.75)]),
    ("blur the background more strongly", [(BG, H, 0.5)]),
    ("make the face as sharp as possible", [("face", B, 0.25)]),
    ("get the noise out of the sky completely", [("sky", N, 0.25)]),
    ("sharpen the text really well", [("text", B, 0.5)]),
    ("denoise the sky hard", [("sky", N, 0.5)]),
    ("give the sky a gentle denoise", [("sky", N, 1.5)]),
    ("make the denoising on the face lighter", [("face", N, 1.25)]),
    ("crank up the sharpness on the face", [("face", B, 0.5)]),
    ("max out the bokeh", [(BG, H, 0.25)]),
    ("turn the denoising up on the sky", [("sky", N, 0.75)]),
    ("go hard on the noise in the shadows", [("shadows", N, 0.5)]),
    ("please be aggressive with the jpeg artifacts", [(IMG, J, 0.25)]),
    ("bump up the detail on the face", [("face", R, 0.75)]),
    ("more sharpness for the eyes", [("eyes", B, 0.75)]),
    ("turn up the blur on the background", [(BG, H, 0.75)]),
    ("the dog looks really cute", [], REPLY),
    ("very nice", [], REPLY),
    ("less bokeh", [(BG, H, 1.25)]),
    ("make the background blurrier still", [(BG, H, 0.75)]),
    ("blur the background even further", [(BG, H, 0.75)]),
    ("further blur the background", [(BG, H, 0.75)]),
    ("the background should be even blurrier", [(BG, H, 0.75)]),
    ("sharpen the face further", [("face", B, 0.75)]),
    ("give the water a really good clean", [("water", R, 0.5)]),
    ("deep clean the photo", [(IMG, R, 0.5)]),
    ("restore the water still", [("water still", R, None)]),
    ("less sharpening on the face", [("face", B, 1.25)]),
    ("make the denoising gentler", [(IMG, N, 1.25)]),
    ("restore the dog with half strength", [("dog", R, 1.5)]),
    ("blur out the background", [(BG, H, None)]),
    ("fix the really blurry face", [("face", B, None)]),
    ("the sky is super grainy", [("sky", N, None)]),
])

PROTECTIVE = _group("protective", [
    ("denoise the portrait but keep the skin texture", [(IMG, N, 1.5)]),
    ("remove the grain from the face but preserve the fine details", [("face", N, 1.5)]),
    ("sharpen the eyes while keeping their natural look", [("eyes", B, 1.5)]),
    ("clean up the photo without losing the film grain", [(IMG, R, 1.5)]),
    ("restore the old photo but don't lose the film look", [(IMG, R, 1.5)]),
    ("denoise the sky, keep the grain on the film border", [("sky", N, None), ("film border", N, 1.5)]),
    ("keep the film grain on the edges", [("edges", R, 1.5)]),
    ("preserve the texture of the brick wall", [("brick wall", R, 1.5)]),
    ("denoise the wall but keep its texture", [("wall", N, 1.5)]),
    ("reduce noise on the face but retain the pores", [("face", N, 1.5)]),
    ("denoise the face with 0.4 but keep skin texture", [("face", N, 0.4)]),
    ("strongly denoise the cat while preserving the fur texture", [("cat", N, 0.5)]),
    ("denoise the face but not too much", [("face", N, 1.5)]),
    ("sharpen the text, but don't overdo it", [("text", B, 1.5)]),
    ("restore the faces without making them look plastic", [("faces", R, 1.5)]),
    ("denoise the baby's face and keep it natural", [("baby's face", N, 1.5)]),
    ("smooth the sky but keep some grain", [("sky", N, 1.5)]),
    ("fix the scratches but keep the patina", [(IMG, R, 1.5)]),
    ("remove jpeg artifacts from the logo while preserving the sharpness", [("logo", J, 1.5)]),
    ("go easy on the face", [("face", R, 1.5)]),
    ("keep the grain", [(IMG, R, 1.5)]),
    ("clean the noise in the sky, yet preserve the grain along the film edge",
     [("sky", N, None), ("film edge", N, 1.5)]),
    ("preserve the wrinkles on grandma's face", [("grandma's face", R, 1.5)]),
    ("sharpen the old sign without destroying its character", [("old sign", B, 1.5)]),
    ("denoise the dog and the cat but keep their fur detail", [("dog", N, 1.5), ("cat", N, 1.5)]),
    ("restore this photo, keeping the vintage feel", [(IMG, R, 1.5)]),
    ("denoise the face gently but keep the freckles", [("face", N, 1.5)]),
    ("remove noise from the skin without smoothing away the texture", [("skin", N, 1.5)]),
    ("deblock the sky and keep the original colours", [("sky", J, 1.5)]),
    ("restore the man on the right but don't remove the film grain", [("man on the right", R, 1.5)]),
    ("denoise the face and keep the skin looking natural", [("face", N, 1.5)]),
    ("restore the old photo, I want to keep the film grain", [(IMG, R, 1.5)]),
    ("sharpen the kid's face, keep the freckles though", [("kid's face", B, 1.5)]),
    ("clean up the photo but don't smooth the skin", [(IMG, R, 1.5)]),
    ("sharpen the face but keep it looking real", [("face", B, 1.5)]),
    ("denoise the face, go easy on it", [("face", N, 1.5)]),
    ("be gentle with the old letter", [("old letter", R, 1.5)]),
    ("denoise the photo but keep the dog's fur texture", [(IMG, N, None), ("dog", N, 1.5)]),
    ("denoise the photo but keep some noise in the shadows", [(IMG, N, None), ("shadows", N, 1.5)]),
    ("keep the grain only on the edges", [("edges", R, 1.5)]),
    ("reduce noise in the sky while maintaining detail in the clouds",
     [("sky", N, None), ("clouds", N, 1.5)]),
    ("restore the photo without losing its charm", [(IMG, R, 1.5)]),
    ("sharpen the building, but keep the details natural", [("building", B, 1.5)]),
    ("denoise the face — but keep the texture", [("face", N, 1.5)]),
    ("make the bride clear but subtle", [("bride", R, 1.5)]),
    ("denoise the face so it still looks natural", [("face", N, 1.5)]),
    ("Denoise the background; keep the grain on the subject", [(BG, N, None), ("subject", N, 1.5)]),
    ("remove noise from the face, preserve details around the eyes", [("face", N, None), ("eyes", N, 1.5)]),
    ("smooth the sky while keeping the clouds' texture", [("sky", N, None), ("clouds", N, 1.5)]),
    ("restore the picture, preserve my grandfather's skin texture",
     [(IMG, R, None), ("grandfather", R, 1.5)]),
    ("keep the texture of the old wooden door, denoise the sky",
     [("old wooden door", R, 1.5), ("sky", N, None)]),
])

_P = (("face", N, None), (BG, H, None))
BARE_STRENGTHS = [
    *_group("bare-strength", [
        ("with 0.4", [], REPLY), ("0.65", [], REPLY), ("at 80%", [], REPLY), ("fidelity 0.3", [], REPLY),
        ("strength: 1.2", [], REPLY), ("1", [], REPLY), ("0", [], REPLY), ("2", [], REPLY),
        ("strongly", [], REPLY), ("very gently", [], REPLY), ("stronger please", [], REPLY),
        ("even stronger", [], REPLY), ("a little gentler", [], REPLY), ("0.5 please", [], REPLY),
        ("with .9", [], REPLY), ("slightly", [], REPLY), ("as much as possible", [], REPLY),
        ("please be gentle", [], REPLY), ("use 0.7", [], REPLY), ("go with 0.4", [], REPLY),
        ("try 1.2", [], REPLY), ("set it to 0.6", [], REPLY), ("0.3 fidelity", [], REPLY),
        ("not too much", [], REPLY), ("go easy", [], REPLY), ("a strength of 0.4", [], REPLY),
        ("do it with 0.3", [], REPLY), ("just 0.5", [], REPLY), ("how about 0.8", [], REPLY),
        ("with 3", [], ERR), ("7", [], ERR),
    ]),
    *_refine(_P, [
        ("with 0.4", [("face", N, 0.4), (BG, H, None)]),
        ("strongly", [("face", N, 0.5), (BG, H, None)]),
        ("very gently", [("face", N, 1.75), (BG, H, None)]),
        ("0.65", [("face", N, 0.65), (BG, H, None)]),
        ("set it to 0.6", [("face", N, 0.6), (BG, H, None)]),
        ("please be gentle", [("face", N, 1.5), (BG, H, None)]),
        ("but keep the skin texture", [("face", N, 1.25), (BG, H, None)]),
        ("same but keep the skin texture", [("face", N, 1.25), (BG, H, None)]),
        ("really stronger", [("face", N, 0.5), (BG, H, None)]),
        ("not too much", [("face", N, 1.25), (BG, H, None)]),
        ("go back to the original", [], {"command": "reset"}),
        ("undo my last change", [], {"command": "undo"}),
        ("with nan", [], ERR),
        ("set the face to inf", [], ERR),
    ]),
]

# after a result, a comparative on an edit the plan already has adjusts that edit
_Q = (("dog", R, 0.5), (BG, H, None))
RELATIVE = _refine(_Q, [
    ("make the background even blurrier", [("dog", R, 0.5), (BG, H, 0.75)]),
    ("add a lot more bokeh to the background", [("dog", R, 0.5), (BG, H, 0.5)]),
    ("restore the dog even more", [("dog", R, 0.25), (BG, H, None)]),
    ("restore the dog a little bit more", [("dog", R, 0.35), (BG, H, None)]),
    ("a bit more bokeh", [("dog", R, 0.5), (BG, H, 0.85)]),
    ("and keep the dog's fur texture", [("dog", R, 0.75), (BG, H, None)]),
    ("sharpen the dog even more", [("dog", B, 0.75)], {}),
    ("make the bokeh stronger", [("dog", R, 0.5), (BG, H, 0.75)]),
    ("make the bokeh a bit weaker", [("dog", R, 0.5), (BG, H, 1.15)]),
    ("less blur on the background please", [("dog", R, 0.5), (BG, H, 1.25)]),
    # a command verb with a region, or a keep clause, after a result: that region is kept
    ("reset the sky", [("dog", R, 0.5), ("sky", K, None), (BG, H, None)]),
    ("revert the dog to the original", [("dog", K, None), (BG, H, None)]),
    ("leave the background alone", [("dog", R, 0.5), (BG, K, None)]),
])
_S = (("face", B, 0.5), ("face", N, None), ("sky", N, 1.0))
RELATIVE += _refine(_S, [
    ("undo the sharpening on the face", [("face", N, None), ("sky", N, 1.0)]),
    ("remove the denoising", [("face", B, 0.5)]),
    ("undo the bokeh", [], REPLY),
    ("take back the sharpening", [("face", N, None), ("sky", N, 1.0)]),
])

NON_NUMBERS = _group("non-number", [
    ("with nan", [], ERR), ("restore the dog with NaN", [], ERR), ("denoise the sky with inf", [], ERR),
    ("sharpen the face at infinity", [], ERR), ("fidelity: nan", [], ERR), ("strength = -inf", [], ERR),
    ("make the dog clear with nan and keep other parts clear with 1.0", [], ERR),
    ("make the dog clear with 0.5 and keep other parts bokeh blur with inf", [], ERR),
    ("with ∞", [], ERR), ("restore everything at nan%", [], ERR),
    ("denoise the sky with a fidelity of nan", [], ERR),
    ("nan", [], ERR), ("at inf", [], ERR),
    ("restore the dog with fidelity abc", [], ERR), ("sharpen the sign, strength: lots", [], ERR),
    ("restore the sky, strength = none", [], ERR),
    ("restore the dog with fidelity one", [("dog", R, 1.0)]),
    ("restore the dog, strength: low", [("dog", R, 1.5)]),
    ("denoise the sky with fidelity high", [("sky", N, 1.5)]),
    ("restore nan's portrait", [("nan's portrait", R, None)]),
])

PARTIAL = _group("partial", [
    # politeness, greetings and purposes are not "not understood"
    ("restore the dog, thanks a lot", [("dog", R, None)]),
    ("please restore the dog if that's ok", [("dog", R, None)]),
    ("hi, can you restore the dog?", [("dog", R, None)]),
    ("sharpen the face so I can see the eyes", [("face", B, None)]),
    ("Restore the dog 🙂", [("dog", R, None)]),
    ("great! now denoise the sky gently", [("sky", N, 1.5)]),
    ("perfect, now the sky", [("sky", R, None)]),
    ("sharpen the face and make the sky purple", [("face", B, None)], NOTE),
    ("denoise the photo and also add a hat to the dog", [(IMG, N, None)], NOTE),
    ("restore the dog, and colorize it", [("dog", R, None)], NOTE),
    ("remove noise from the sky and make it brighter", [("sky", N, None)], NOTE),
    ("blur the background, rotate the photo", [(BG, H, None)], NOTE),
    ("enhance the face and crop the image", [("face", R, None)], NOTE),
    ("I love this picture, please sharpen the eyes", [("eyes", B, None)], NOTE),
    ("denoise the sky and tell me a joke", [("sky", N, None)], NOTE),
    ("sharpen and brighten the face", [("face", B, None)], NOTE),
    ("reset the sky and sharpen the face", [("sky", K, None), ("face", B, None)]),
    ("revert the face back to how it was", [("face", K, None)]),
    ("denoise and recolor the old car", [("old car", N, None)], NOTE),
])

NEW_CASES: list[Case] = [*COMMAND_WORDS, *MULTI_ACTION, *INTENSIFIERS, *PROTECTIVE, *BARE_STRENGTHS,
                         *RELATIVE, *NON_NUMBERS, *PARTIAL]

CASES: list[Case] = [*TEMPLATES, *ACTIONS, *COMBINATIONS, *EXCLUSIONS, *TARGETS, *STRENGTHS, *COMMANDS,
                     *CHITCHAT, *REFINEMENTS, *NEW_CASES]
