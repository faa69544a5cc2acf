"""What people write → the 80 COCO classes the offline detector knows. Data plus one lookup.

``lookup("puppy")`` → ``NounMatch(classes=("dog",), mass=False)``; ``lookup("vehicles")`` →
car/truck/bus/motorcycle/…; ``lookup("red car on the road")`` finds the head noun "car" (the phrase
is cut at its first preposition and the last known noun before the cut is the head). Nouns
outside the table return None: the grounder then asks for a click or a box instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: YOLOX-Nano's output order (COCO 2017 detection classes).
COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

#: Extra words for each class (the class name itself is always a word for it). Plurals are added
#: by ``_plural`` unless listed here.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "person": (
        "people",
        "persons",
        "man",
        "men",
        "woman",
        "women",
        "child",
        "children",
        "kid",
        "kids",
        "boy",
        "boys",
        "girl",
        "girls",
        "guy",
        "guys",
        "lady",
        "ladies",
        "gentleman",
        "baby",
        "babies",
        "toddler",
        "human",
        "humans",
        "crowd",
        "player",
        "players",
        "skier",
        "surfer",
        "rider",
        "pedestrian",
        "pedestrians",
        "adult",
        "teenager",
        "someone",
        "figure",
        "mother",
        "father",
        "mom",
        "dad",
        "grandma",
        "grandpa",
        "bride",
        "groom",
        "couple",
        "family",
        "friend",
        "friends",
        "tourist",
        "tourists",
        "athlete",
        "runner",
        "dancer",
        "portrait",
    ),
    "bicycle": ("bike", "bikes", "cycle"),
    "car": ("cars", "automobile", "sedan", "taxi", "cab", "jeep", "suv", "van"),
    "motorcycle": ("motorbike", "motorbikes", "scooter", "moped"),
    "airplane": ("plane", "planes", "aeroplane", "aircraft", "jet", "airliner"),
    "bus": ("buses", "coach"),
    "train": ("locomotive", "tram", "railway car"),
    "truck": ("lorry", "pickup", "pickup truck"),
    "boat": ("ship", "ships", "sailboat", "yacht", "canoe", "kayak", "ferry"),
    "bench": ("park bench",),
    "bird": (
        "birds",
        "seagull",
        "gull",
        "pigeon",
        "duck",
        "ducks",
        "parrot",
        "sparrow",
        "eagle",
        "owl",
        "swan",
        "goose",
        "geese",
        "chicken",
        "hen",
    ),
    "cat": ("kitten", "kittens", "kitty", "kitties", "feline", "felines", "tomcat"),
    "dog": (
        "puppy",
        "puppies",
        "pup",
        "pups",
        "doggy",
        "doggie",
        "doggo",
        "hound",
        "pooch",
        "canine",
        "retriever",
        "labrador",
        "poodle",
        "terrier",
        "bulldog",
        "corgi",
    ),
    "horse": ("pony", "ponies", "foal", "stallion", "mare"),
    "sheep": ("lamb", "lambs", "ram"),
    "cow": ("cows", "cattle", "calf", "calves", "bull", "ox", "oxen"),
    "elephant": ("elephants",),
    "bear": ("bears", "grizzly", "polar bear"),
    "zebra": ("zebras",),
    "giraffe": ("giraffes",),
    "backpack": ("rucksack", "knapsack"),
    "handbag": ("purse", "bag", "bags"),
    "tie": ("necktie",),
    "suitcase": ("luggage", "suitcases"),
    "sports ball": (
        "ball",
        "balls",
        "football",
        "soccer ball",
        "basketball",
        "tennis ball",
        "baseball",
        "volleyball",
    ),
    "baseball glove": ("glove", "mitt"),
    "tennis racket": ("racket", "racquet"),
    "wine glass": ("wineglass", "glass of wine"),
    "cup": ("mug", "mugs", "teacup", "coffee cup"),
    "knife": ("knives",),
    "orange": ("oranges", "tangerine", "mandarin"),
    "broccoli": (),
    "hot dog": ("hotdog", "hot dogs", "sausage"),
    "donut": ("doughnut", "doughnuts"),
    "cake": ("cupcake", "birthday cake"),
    "chair": ("chairs", "seat", "stool"),
    "couch": ("sofa", "sofas", "settee"),
    "potted plant": ("plant", "plants", "houseplant", "flowerpot", "pot plant"),
    "dining table": ("table", "tables", "desk"),
    "tv": ("television", "tv screen", "monitor", "screen"),
    "laptop": ("notebook computer", "computer"),
    "mouse": ("computer mouse",),
    "remote": ("remote control", "controller"),
    "cell phone": ("phone", "phones", "mobile phone", "smartphone", "cellphone", "mobile", "iphone"),
    "refrigerator": ("fridge", "fridges"),
    "book": ("books", "novel"),
    "clock": ("clocks", "watch"),
    "vase": ("vases",),
    "scissors": (),
    "teddy bear": ("teddy", "teddies", "stuffed animal", "plush toy", "soft toy"),
    "hair drier": ("hair dryer", "hairdryer", "blow dryer"),
    "toothbrush": ("toothbrushes",),
}

ANIMALS = ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe")
VEHICLES = ("car", "truck", "bus", "motorcycle", "bicycle", "train", "airplane", "boat")
FOOD = ("banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake")
#: Group words → classes. Mass nouns ("food") take every match, like plurals.
HYPERNYMS: dict[str, tuple[tuple[str, ...], bool]] = {
    "animal": (ANIMALS, False), "animals": (ANIMALS, True), "pet": (("cat", "dog"), False),
    "pets": (("cat", "dog"), True), "wildlife": (ANIMALS, True),
    "livestock": (("horse", "sheep", "cow"), True),
    "vehicle": (VEHICLES, False), "vehicles": (VEHICLES, True), "traffic": (VEHICLES, True),
    "motor vehicle": (("car", "truck", "bus", "motorcycle"), False),
    "motor vehicles": (("car", "truck", "bus", "motorcycle"), True),
    "food": (FOOD, True), "meal": (FOOD, True), "dish": (FOOD, False),
    "fruit": (("banana", "apple", "orange"), True),
    "fruits": (("banana", "apple", "orange"), True), "vegetables": (("broccoli", "carrot"), True),
    "furniture": (("chair", "couch", "bed", "dining table", "bench"), True),
    "electronics": (("tv", "laptop", "mouse", "remote", "keyboard", "cell phone"), True),
    "appliances": (("microwave", "oven", "toaster", "sink", "refrigerator"), True),
    "cutlery": (("fork", "knife", "spoon"), True), "utensils": (("fork", "knife", "spoon"), True),
    "dishes": (("cup", "bowl", "wine glass"), True), "tableware": (("cup", "bowl", "wine glass", "fork",
                                                                    "knife", "spoon"), True),
    "luggage": (("suitcase", "backpack", "handbag"), True),
}  # fmt: skip

#: A preposition ends the head noun phrase: "the man with the hat" → "man".
_CUT = re.compile(
    r"\b(?:with|on|in|at|near|next|beside|behind|under|below|above|over|by|of|from|holding|"
    r"wearing|carrying|riding|sitting|standing|lying|who|that|which|and|or)\b"
)
_OWNER = re.compile(r"^.*?\b\w+'s?\s+")  # "the kid's ball" → "ball"


@dataclass(frozen=True)
class NounMatch:
    """The COCO classes a phrase names; ``mass``: a group/mass word that means every match."""

    word: str
    classes: tuple[str, ...]
    mass: bool = False


def _plural(word: str) -> str:
    if word.endswith(("s", "sh", "ch", "x")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


#: Singular words for groups: they take every match, like plurals.
GROUP_WORDS = frozenset({"crowd", "couple", "family", "cattle", "traffic", "luggage", "broccoli"})


def _table() -> dict[str, NounMatch]:
    table: dict[str, NounMatch] = {}
    for cls in COCO_CLASSES:
        for word in (cls, *SYNONYMS.get(cls, ())):
            for form in (word, _plural(word)):
                table.setdefault(form, NounMatch(form, (cls,), form in GROUP_WORDS))
    for word, (classes, mass) in HYPERNYMS.items():
        table[word] = NounMatch(word, classes, mass)
    return table


TABLE: dict[str, NounMatch] = _table()
_LONGEST = max(len(k.split()) for k in TABLE)


def lookup(noun: str) -> NounMatch | None:
    """The table entry for the head noun of ``noun`` (lower-case, qualifiers already removed)."""
    text = re.sub(r"[^a-z' -]", " ", noun.lower()).replace("-", " ")
    text = _OWNER.sub("", " ".join(text.split()))
    head = _CUT.split(text, maxsplit=1)[0].split() or text.split()
    for end in range(len(head), 0, -1):  # the rightmost known word, longest phrase first
        for n in range(min(_LONGEST, end), 0, -1):
            phrase = " ".join(head[end - n : end])
            if phrase in TABLE:
                return TABLE[phrase]
    return None


__all__ = ["COCO_CLASSES", "HYPERNYMS", "SYNONYMS", "TABLE", "NounMatch", "lookup"]
