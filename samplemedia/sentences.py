"""Deterministic natural-ish English: the sentences the sample videos speak."""

from __future__ import annotations

import random

_SUBJECTS = [
    "the old fisherman",
    "my grandmother",
    "a young engineer",
    "the quiet student",
    "our neighbour",
    "the tired cyclist",
    "a curious child",
    "the local baker",
    "this small village",
    "the science teacher",
    "every good cook",
    "the river guide",
    "a famous painter",
    "the night nurse",
    "my best friend",
    "the mountain climber",
    "a patient gardener",
    "the city council",
    "the brown dog",
    "our team",
]
_VERBS = [
    "repaired",
    "painted",
    "carried",
    "described",
    "discovered",
    "cleaned",
    "measured",
    "remembered",
    "explained",
    "collected",
    "built",
    "opened",
    "watched",
    "followed",
    "borrowed",
    "visited",
]
_OBJECTS = [
    "the wooden boat",
    "a broken bicycle",
    "the garden fence",
    "an ancient map",
    "the kitchen window",
    "a basket of apples",
    "the long bridge",
    "a heavy suitcase",
    "the blue door",
    "a box of letters",
    "the winter coat",
    "a bright red kite",
    "the village church",
    "an empty bottle",
    "the tall lighthouse",
]
_ADVERBIALS = [
    "before the sun came up",
    "after a long and rainy afternoon",
    "with great care",
    "without saying a word",
    "near the edge of the forest",
    "during the summer holidays",
    "in less than an hour",
    "while everyone else was sleeping",
    "on the way back from the market",
    "for the very first time",
    "because nobody else would do it",
    "although it was getting dark",
]
_OPENERS = [
    "Yesterday",
    "Last week",
    "In the morning",
    "Surprisingly",
    "After lunch",
    "Once again",
    "Every spring",
    "Later that evening",
    "Of course",
    "At the end of the day",
]
_QUESTIONS = [
    "Have you ever wondered why {o} looks so different in the rain?",
    "Why would {s} want to keep {o} for so many years?",
    "Do you know where {s} found {o}?",
    "Is it really possible to fix {o} in one afternoon?",
]
_SHORT = [
    "That was the plan.",
    "Nobody expected it.",
    "It worked perfectly.",
    "Then everything changed.",
    "Let me show you how.",
    "This is the important part.",
    "Thanks for watching.",
]


def sentence_generator(seed: int):
    """An endless, deterministic stream of varied English sentences (short remarks, questions,
    plain statements and long ones with clauses)."""
    rng = random.Random(seed)
    while True:
        kind = rng.random()
        s, v, o, a = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_ADVERBIALS)
        if kind < 0.12:
            yield rng.choice(_SHORT)
        elif kind < 0.25:
            yield rng.choice(_QUESTIONS).format(s=s, o=o).capitalize()
        elif kind < 0.6:
            text = f"{rng.choice(_OPENERS)}, {s} {v} {o} {a}."
            yield text
        else:
            s2, v2, o2 = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)
            text = f"{s} {v} {o} {a}, and then {s2} {v2} {o2}."
            yield text[0].upper() + text[1:]


_SPOKEN_WORDS_PER_SECOND = 2.85  # espeak-ng at speed 165 with 0.6 s pauses, measured


def sentences_for(seconds: float, seed: int) -> list[str]:
    """About ``seconds`` of speech worth of sentences (at least one)."""
    out, words = [], 0.0
    for sentence in sentence_generator(seed):
        if out and (words + len(sentence.split())) / _SPOKEN_WORDS_PER_SECOND > seconds - 1.0:
            break
        out.append(sentence)
        words += len(sentence.split())
    return out
