"""The text the bench feeds the guard: a retrieved context and answers about it.

A product help centre, four passages of about 100 words each (what a RAG app
retrieves for one question). The streamed answers mix what LLM answers hold: an
opener that is not a claim, claims the context supports in other words, one
sentence copied from it, a changed number (fixed from the evidence) and a claim
the context does not support (annotated). :func:`claims` makes as many distinct
claims as the throughput section needs, so no NLI pair is ever answered from
the cache.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

__all__ = ["CONTEXT", "STREAM_ANSWERS", "WARM_UP", "claims", "stream_answers"]

CONTEXT = [
    "The Larkspur E-300 uses a 504 Wh lithium-ion battery mounted inside the down tube. "
    "A full charge takes about 4.5 hours with the standard 4 A charger, or 2.5 hours with "
    "the optional fast charger. In eco mode the battery gives a range of up to 120 km; in "
    "turbo mode the range drops to about 45 km. The battery can be removed with the "
    "supplied key and charged off the bike. It keeps at least 80 percent of its capacity "
    "after 800 full charge cycles. Store it at 30 to 60 percent charge if the bike will "
    "not be ridden for more than a month.",
    "The rear hub motor delivers 250 W of continuous power and 60 Nm of torque. "
    "Assistance cuts out at 25 km/h, as EU rules require for pedelecs. The bike weighs "
    "23.4 kg including the battery and supports a maximum total load of 130 kg, rider and "
    "cargo together. It has a nine-speed Shimano Alivio derailleur and hydraulic disc "
    "brakes with 180 mm rotors. The display shows speed, remaining range, assist level "
    "and the battery's charge in percent. Five assist levels are available: off, eco, "
    "tour, sport and turbo.",
    "The frame carries a lifetime warranty for the original owner. The motor, battery and "
    "display are covered for two years from the date of purchase, or 20,000 km, whichever "
    "comes first. Wear parts such as tyres, brake pads and the chain are not covered. The "
    "first service is free and should be done after 500 km or three months. To claim "
    "warranty, contact support with the serial number, which is printed under the bottom "
    "bracket. Repairs under warranty are normally completed within ten working days.",
    "Orders placed before 2 p.m. on a working day ship the same day from the warehouse in "
    "Rotterdam. Delivery within the Netherlands and Belgium takes one to two working days; "
    "other EU countries take three to five. Unused bikes can be returned within 30 days "
    "for a full refund, and the return shipping label is free. Refunds are paid to the "
    "original payment method within 14 days after the bike arrives back at the "
    "warehouse. Customers outside the EU pay import duties on delivery.",
]

STREAM_ANSWERS = [
    [
        "Thanks for asking about the battery.",
        "The E-300 has a 504 Wh battery built into the down tube.",
        "With the standard charger, a full charge takes roughly four and a half hours.",
        "The optional fast charger brings that down to about 2.5 hours.",
        "In eco mode you can expect a range of up to 150 km.",
        "Riding in turbo mode shortens the range to around 45 km.",
        "You can take the battery out with the key and charge it indoors.",
        "The battery is also fully waterproof, so you can rinse it with a hose.",
    ],
    [
        "Here is a quick overview of the motor.",
        "The bike uses a rear hub motor rated at 250 W continuous with 60 Nm of torque.",
        "Pedal assistance stops at 25 km/h, in line with EU rules for pedelecs.",
        "Including the battery, the bike weighs 23.4 kg.",
        "The maximum load for rider and cargo together is 150 kg.",
        "It has a nine-speed Shimano Alivio derailleur and hydraulic disc brakes with 180 mm rotors.",
        "There are five assist levels, from off up to turbo.",
        "The motor also recovers energy when you brake on a descent.",
    ],
    [
        "Good question about the warranty.",
        "The original owner gets a lifetime warranty on the frame.",
        "The motor, battery and display are covered for three years or 20,000 km.",
        "Tyres, brake pads and the chain count as wear parts and are excluded.",
        "Your first service is free after 500 km or three months.",
        "For a claim, send support the serial number printed under the bottom bracket.",
        "Warranty repairs usually take about ten working days.",
        "Accidental damage is covered as well if you register the bike online.",
    ],
    [
        "Let me explain how shipping and returns work.",
        "If you order before 2 p.m. on a working day, the bike leaves the Rotterdam warehouse the same day.",
        "Delivery to the Netherlands and Belgium takes one to two working days.",
        "Other EU countries usually receive their bike in three to five working days.",
        "You can return an unused bike within 30 days and get a full refund.",
        "The return label is free of charge.",
        "The refund reaches your original payment method within 21 days of the bike's arrival.",
        "Customers in Switzerland get free express delivery.",
    ],
]

WARM_UP = "The Larkspur E-300 is a popular commuter bike with a removable battery."

_TEMPLATES = [
    ("In {mode} mode the E-300 reaches about {n} km on one charge.", "mode", "range"),
    ("A full charge with the {charger} charger takes about {h} hours.", "charger", "hours"),
    ("The battery keeps {p} percent of its capacity after {c} charge cycles.", "percent", "cycles"),
    ("The motor, battery and display are covered for {y} years or {k} km.", "years", "km"),
    ("Orders placed before {t} p.m. leave the {place} warehouse the same day.", "time", "place"),
    ("The bike weighs {w} kg and carries at most {m} kg in total.", "weight", "load"),
    ("Warranty repairs are completed within {d} working days in {country}.", "days", "country"),
    (
        "Unused bikes can be returned within {d} days in {country} for a full refund.",
        "days",
        "country",
    ),
    ("Delivery to {country} takes {span} working days.", "country", "span"),
    (
        "Store the battery at {p} percent charge if the bike stands for {mo} months.",
        "percent",
        "months",
    ),
    ("The first service is free after {k} km or {mo} months.", "service", "months"),
    ("The motor delivers {watt} W of continuous power and {nm} Nm of torque.", "watt", "torque"),
    ("Assistance cuts out at {s} km/h for riders in {country}.", "speed", "country"),
]
_SLOTS: dict[str, tuple[str, list[str]]] = {
    "mode": ("mode", ["eco", "tour", "sport", "turbo"]),
    "range": ("n", [str(n) for n in range(40, 165, 5)]),
    "charger": ("charger", ["standard", "fast", "4 A", "travel"]),
    "hours": ("h", ["2", "2.5", "3", "3.5", "4", "4.5", "5", "6"]),
    "percent": ("p", [str(p) for p in range(60, 95, 5)]),
    "cycles": ("c", [str(c) for c in range(400, 1300, 100)]),
    "years": ("y", ["two", "three", "four", "five", "six"]),
    "km": ("k", ["10,000", "15,000", "20,000", "25,000", "30,000"]),
    "time": ("t", ["1", "2", "3", "4", "5"]),
    "place": ("place", ["Rotterdam", "Antwerp", "Utrecht", "Ghent", "Eindhoven"]),
    "weight": ("w", ["21.9", "22.5", "23.4", "24.1", "25.0"]),
    "load": ("m", ["110", "120", "130", "140", "150"]),
    "days": ("d", [str(d) for d in range(5, 35, 5)]),
    "span": ("span", ["one", "two", "three", "one to two", "two to three", "three to five"]),
    "months": ("mo", ["one", "two", "three", "four", "six", "twelve"]),
    "service": ("k", [str(k) for k in range(300, 1100, 100)]),
    "watt": ("watt", ["200", "250", "300", "350", "400"]),
    "torque": ("nm", ["40", "50", "60", "70", "80", "85"]),
    "speed": ("s", ["20", "25", "28", "32", "45"]),
    "country": (
        "country",
        ["the Netherlands", "Belgium", "Germany", "France", "Austria", "Denmark"],
    ),
}


def stream_answers(streams: int, sentences: int) -> list[str]:
    """``streams`` answers of ``sentences`` sentences each (cycled past the written ones)."""
    answers = []
    for i in range(streams):
        lines = STREAM_ANSWERS[i % len(STREAM_ANSWERS)]
        picked = [lines[j % len(lines)] for j in range(sentences)]
        if i >= len(STREAM_ANSWERS) or sentences > len(lines):
            # a repeat would be answered from the NLI cache: make every sentence new
            picked = [_variant(s, i, j) for j, s in enumerate(picked)]
        answers.append(" ".join(picked))
    return answers


def _variant(sentence: str, stream: int, index: int) -> str:
    return f"{sentence[:-1]}, as answer {stream + 1} notes in point {index + 1}."


def claims(seed: int = 0) -> Iterator[str]:
    """Distinct claim sentences about :data:`CONTEXT`, in a fixed pseudo-random order
    (an endless supply: after the few hundred written ones come reworded ones)."""
    made: list[str] = []
    for template, first, second in _TEMPLATES:
        (a, left), (b, right) = _SLOTS[first], _SLOTS[second]
        made += [template.format(**{a: x, b: y}) for x, y in itertools.product(left, right)]
    rng = random.Random(seed)
    rng.shuffle(made)
    unique = list(dict.fromkeys(made))
    yield from unique
    for round_ in itertools.count(1):  # past the written ones: the same claims, reworded
        yield from (f"{claim[:-1]}, as noted in part {round_}." for claim in unique)
