"""The parser's case table: instruction → exact EditPlan.

Used by ``tests/test_parser.py`` (every case must pass) and ``benchmarks/parser_accuracy.py``
(accuracy and latency). Each edit is written ``(target, action, fidelity)``. A case expects
either a plan (``edits`` + ``command``), an ``InstructionError`` (``error=True``), or a reply
with no edits (``reply=True``). ``previous`` is the plan of the last restoring turn; a case with
``refinement=True`` expects ``changes`` to be set.
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
    ("with 0.7", [(IMG, R, 0.7)]),
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

CASES: list[Case] = [*TEMPLATES, *ACTIONS, *COMBINATIONS, *EXCLUSIONS, *TARGETS, *STRENGTHS, *COMMANDS,
                     *CHITCHAT, *REFINEMENTS]
