"""Make ``data/newsgroups_mini.csv``: a small, deterministic, newsgroups-style text corpus.

Four categories, 300 short posts each, 20 % of them marked ``test``. Every post mixes words typical of its
category with everyday filler and a few words borrowed from another category, so a classifier has real
(but learnable) work to do. The fixed seed makes the file identical on every machine; it is committed, so
nothing is downloaded. Run ``python data/make_corpus.py`` to rebuild it, ``--check`` to verify it.
"""

from __future__ import annotations

import csv
import io
import random
import sys
from pathlib import Path

SEED = 20261121
POSTS_PER_CATEGORY = 300
TEST_FRACTION = 0.2
OUT = Path(__file__).with_name("newsgroups_mini.csv")

TOPICS = {
    "comp.graphics": (
        "pixel render shader texture polygon bitmap gpu opengl vertex raytracing jpeg png resolution "
        "antialiasing framebuffer colour palette sprite mesh 3d rendering image graphics monitor driver "
        "vector raster gif compression display screen animation lighting"
    ),
    "rec.autos": (
        "engine car brakes tyres gearbox clutch mileage diesel petrol sedan dealer horsepower exhaust "
        "transmission oil suspension wheel garage mechanic radiator torque highway bumper headlights "
        "carburetor ignition turbo coupe convertible speedometer"
    ),
    "sci.med": (
        "doctor patient symptoms diagnosis vaccine clinic disease treatment dosage allergy infection "
        "surgery nurse blood pressure medicine prescription therapy virus immune chronic cancer diet "
        "cholesterol pain hospital antibiotics migraine insulin"
    ),
    "sci.space": (
        "orbit rocket nasa launch satellite shuttle astronaut moon mars telescope payload booster "
        "spacecraft gravity lunar planet comet asteroid galaxy mission station orbital propulsion "
        "spacewalk hubble probe eclipse solar"
    ),
}
FILLER = (
    "i think the a my we you it is was have has had this that there some any about really just "
    "anyone know does would could should maybe please thanks question help problem idea new old "
    "good bad best better last first week year today yesterday people someone everyone post reply "
    "read heard seen tried working looking trying need want like because since while when why how "
    "what which also still very quite pretty great small large cheap expensive fast slow"
).split()


def make_posts(seed: int = SEED) -> list[tuple[str, str, str]]:
    """(text, category, split) rows, in a shuffled but fixed order."""
    rng = random.Random(seed)
    topic_words = {name: words.split() for name, words in TOPICS.items()}
    rows = []
    for category, words in topic_words.items():
        others = [w for name, ws in topic_words.items() if name != category for w in ws]
        for _ in range(POSTS_PER_CATEGORY):
            length = rng.randint(8, 24)
            post = []
            for _ in range(length):
                roll = rng.random()
                if roll < 0.32:
                    post.append(rng.choice(words))
                elif roll < 0.40:
                    post.append(rng.choice(others))
                else:
                    post.append(rng.choice(FILLER))
            rows.append((" ".join(post), category))
    rng.shuffle(rows)
    test_every = round(1 / TEST_FRACTION)
    return [(text, category, "test" if i % test_every == 0 else "train") for i, (text, category) in enumerate(rows)]


def render(rows: list[tuple[str, str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["text", "category", "split"])
    writer.writerows(rows)
    return buffer.getvalue()


def main(argv: list[str]) -> int:
    content = render(make_posts())
    if "--check" in argv:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == content
        print(f"{OUT.name} is {'up to date' if same else 'out of date: run python data/make_corpus.py'}")
        return 0 if same else 1
    OUT.write_text(content, encoding="utf-8")
    print(f"wrote {OUT} ({content.count(chr(10)) - 1} posts)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
