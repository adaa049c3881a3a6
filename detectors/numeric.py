"""Numbers, amounts, percentages, dates and measurements the context does not state.

::

    NumericCheck(tolerance=0.0)          # YAML type "numeric"

:func:`extract_quantities` reads the quantities of a text: ``"1.2 million"``,
``"twenty-five"``, ``"12 percent"``, ``"€1.5m"``, ``"March 3, 2021"``,
``"5 km"``... (list markers, versions, times, phone numbers and ID-like digit
runs are not quantities). :class:`NumericCheck` reports each quantity of a
sentence that equals no quantity anywhere in the context and, where the most
similar context sentence holds exactly one value of the same sort, suggests it
as the replacement (for the ``fix_numbers`` action).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import fuzz

from detectors.base import CheckContext, Evidence, Finding, Segment
from detectors.claims import is_claim
from detectors.passages import normalize
from guardrails.errors import ConfigError
from guardrails.segmenter import split

__all__ = ["NumericCheck", "Quantity", "QuantityKind", "extract_quantities"]

QuantityKind = Literal["number", "percent", "money", "year", "date", "unit"]
"""What a quantity measures."""

_SMALL_WORDS = """zero one two three four five six seven eight nine ten eleven twelve thirteen
    fourteen fifteen sixteen seventeen eighteen nineteen"""
_TENS_WORDS = "twenty thirty forty fifty sixty seventy eighty ninety"
_SMALL = _SMALL_WORDS.split()
_TENS = _TENS_WORDS.split()
_SCALE_WORDS = {"hundred": 1e2, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_ABBR = {"k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "mn": 1e6, "bn": 1e9, "B": 1e9, "tn": 1e12}
_NUMBER_WORDS = {w: float(i) for i, w in enumerate(_SMALL)} | {
    w: float(20 + 10 * i) for i, w in enumerate(_TENS)
}
_CURRENCIES = {
    "$": "USD", "US$": "USD", "A$": "AUD", "AU$": "AUD", "C$": "CAD", "CA$": "CAD",
    "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "dollar": "USD", "euro": "EUR",
    "pound": "GBP", "yen": "JPY", "yuan": "CNY", "rupee": "INR", "franc": "CHF",
}  # fmt: skip
_CODES = "USD|EUR|GBP|JPY|CHF|CAD|AUD|INR|CNY"
# canonical: (family, factor to the family's base unit, other surface forms); a word form of
# four letters or more also matches with an "s" added, and "_" stands for a space
# fmt: off
_UNIT_TABLE: dict[str, tuple[str, float, str]] = {
    "km": ("length", 1e3, "kms kilometre kilometer"), "m": ("length", 1.0, "metre meter"),
    "cm": ("length", 1e-2, "centimetre centimeter"), "mm": ("length", 1e-3, "millimetre millimeter"),
    "mi": ("length", 1609.344, "mile"), "ft": ("length", 0.3048, "foot feet"),
    "in": ("length", 0.0254, "inch inches"), "kg": ("mass", 1e3, "kgs kilogram kilo"),
    "g": ("mass", 1.0, "gram"), "mg": ("mass", 1e-3, "milligram"), "t": ("mass", 1e6, "tonne"),
    "lb": ("mass", 453.59237, "lbs"), "ms": ("time", 1e-3, "millisecond"),
    "s": ("time", 1.0, "sec secs second"), "min": ("time", 60.0, "mins minute"),
    "h": ("time", 3600.0, "hr hrs hour"), "day": ("time", 86400.0, "days"),
    "week": ("time", 604800.0, ""), "month": ("time", 2629800.0, ""),
    "year": ("time", 31557600.0, "yr yrs"), "°C": ("celsius", 1.0, "℃ celsius degrees_celsius"),
    "°F": ("fahrenheit", 1.0, "℉ fahrenheit degrees_fahrenheit"),
    "L": ("volume", 1.0, "litre liter"), "ml": ("volume", 1e-3, "mL millilitre milliliter"),
    "km²": ("area", 1e6, "km2 sq_km square_kilometre square_kilometer"),
    "ha": ("area", 1e4, "hectare"), "acre": ("area", 4046.8564224, ""),
    "km/h": ("speed", 1 / 3.6, "kph kmh"), "mph": ("speed", 0.44704, ""),
    "MB": ("data", 1e6, "megabyte"), "GB": ("data", 1e9, "gigabyte"),
    "TB": ("data", 1e12, "terabyte"), "kW": ("power", 1e3, "kilowatt"),
    "MW": ("power", 1e6, "megawatt"), "GW": ("power", 1e9, "gigawatt"),
}
# fmt: on


def _unit_forms() -> dict[str, str]:
    """Surface form (lower case for words) -> canonical unit."""
    forms: dict[str, str] = {}
    for canon, (_family, _factor, other) in _UNIT_TABLE.items():
        for form in [canon, *other.split()]:
            word = form.replace("_", " ")
            forms[word.lower() if len(word) > 3 else word] = canon
            if len(word) > 3 and word.replace(" ", "").isalpha() and not word.endswith("s"):
                forms[word.lower() + "s"] = canon
    return forms


_UNIT_OF = _unit_forms()


def _alternation(forms: list[str]) -> str:
    return "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))


_WORDS_ALT = _alternation([*_NUMBER_WORDS, *_SCALE_WORDS])
_UNIT_SYMBOLS = _alternation(
    [f for f in _UNIT_OF if len(f) <= 3 or not f.replace(" ", "").isalpha()]
)
_UNIT_NAMES = _alternation([f for f in _UNIT_OF if len(f) > 3 and f.replace(" ", "").isalpha()])
_MASTER = re.compile(
    rf"""(?<![\w.,/#@$€£¥₹'\u2019])
    (?P<cur>US\$|AU?\$|CA?\$|[$€£¥₹]|(?:{_CODES})\s?)?
    (?:(?P<lit>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![,.]?\d)
        (?P<scale>(?:\s?(?:bn|mn|tn)|[kKmMB])(?![^\W_])|\s+(?i:thousand|million|billion|trillion)(?!\w))?
      |(?P<words>(?i:(?:a\s+(?=hundred|thousand|million|billion))?(?:{_WORDS_ALT})(?!\w)
        (?:(?:(?<=hundred)\s+and\s+|(?<=thousand)\s+and\s+|\s*-\s*|\s+)(?:{_WORDS_ALT})(?!\w))*)))
    (?:\s?(?P<pct>%|(?i:percent|per\s?cent|percentage\s+points?|pct)(?!\w))
      |\s?(?P<cursuf>(?i:dollars?|euros?|pounds?|yen|yuan|rupees?|francs?)(?!\w)|(?:{_CODES})(?!\w))
      |\s?(?P<unit>(?:{_UNIT_SYMBOLS})(?![^\W_])|(?i:{_UNIT_NAMES})(?!\w)))?
    (?![^\W_])""",
    re.VERBOSE,
)
_MON = (
    r"(?P<mon>January|February|March|April|May|June|July|August|September|October|November"
    r"|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?"
)
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?(?!\d)"
_YEAR = r"(?P<year>(?:1\d|20)\d\d)(?!\d)"
_DATES = [
    re.compile(r"(?<![\w.-])(?P<year>\d{4})-(?P<mon>\d{1,2})-(?P<day>\d{1,2})(?![\w-])"),
    re.compile(rf"(?<!\w){_MON}\s+{_DAY}(?:,?\s+{_YEAR})?(?!\w)"),
    re.compile(rf"(?<![\w.]){_DAY}\s+(?:of\s+)?{_MON}(?:,?\s+{_YEAR})?(?!\w)"),
    re.compile(rf"(?<!\w){_MON}(?:\s+of)?,?\s+{_YEAR}(?!\w)"),
]
_IGNORE = re.compile(
    r"""https?://\S+|www\.\S+|\S+@\S+\.\w+      # URLs, e-mail addresses
    |(?<![\w.])[vV]\d+(?:\.\d+)*\b|(?<![\w.])\d+(?:\.\d+){2,}\b   # versions, IPs
    |(?<![\w.])\d+(?::\d+)+(?:\s?(?:[aApP]\.?[mM]\.?))?   # times, ratios
    |\+\d[\d\s().-]{6,}\d|(?<![\w.])\(?\d{3}\)?[\s.-]\d{3}[.-]\d{4}(?!\d)   # phones
    |(?<![\w.,-])\d{3}-\d{4}(?![\d-])|\#\d+|(?<![\w.,])(?:0\d{3,}|\d{10,})(?![\w.,]?\d)  # IDs
    |(?m:^[ \t]*(?:[-*+][ \t]+)?\(?\d{1,3}[.)](?=[ \t]))   # list markers""",
    re.VERBOSE,
)
_DATE_LIKE = re.compile(r"(?<![\w.])\d{1,4}([-/.])\d{1,2}\1\d{1,4}(?!\w)")  # not a valid date
_DECADE = re.compile(r"(?<![\w.,'’])(?P<year>(?:1\d|20)\d0)s(?!\w)")  # noqa: RUF001
_YEAR_CUE_WORDS = """in since by from until till to of year during before after around circa c
    early late mid between and or the fiscal fy through spring summer autumn fall winter"""
_YEAR_CUES = frozenset(_YEAR_CUE_WORDS.split())
_PREV_WORD = re.compile(r"([^\W\d_]+)\W*\Z")
_LITERAL = re.compile(r"\d[\d,]*(?:\.\d+)?")
_MONTH_WORDS = "jan feb mar apr may jun jul aug sep oct nov dec"
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_WORDS.split())}
_DAYS_IN = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True, slots=True)
class Quantity:
    """One quantity in a text: ``text == source[start:end]``.

    ``value`` is in the quantity's own ``unit`` with scales applied
    (``"1.2 million"`` is 1200000.0, ``"5 km"`` is 5.0 with unit ``"km"``).
    ``unit`` is ``""`` for numbers and years, ``"%"`` for percentages, the ISO
    currency code for money, the canonical symbol for measurements, and for
    dates the fields present: ``"ymd"``, ``"md"`` or ``"ym"`` (value
    ``year*10000 + month*100 + day`` with the missing fields 0).
    """

    kind: QuantityKind
    value: float
    unit: str
    start: int
    end: int
    text: str


def _words_value(words: str) -> float | None:
    """Value of "twenty-five", "one hundred and two", "a million"; None if not a number."""
    total, current, prev = 0.0, 0.0, ""
    for word in re.split(r"[\s-]+", words.lower()):
        if word == "and":
            continue
        if word == "a":
            current, prev = 1.0, "small"
        elif word in _SCALE_WORDS:
            if word == "hundred":
                current = max(current, 1.0) * 100
            else:
                total, current = total + max(current, 1.0) * _SCALE_WORDS[word], 0.0
            prev = "scale"
        else:
            value = _NUMBER_WORDS[word]
            tens_unit = prev == "tens" and 0 < value < 10
            if prev == "small" or (prev == "tens" and not tens_unit):
                return None  # "one two", "twenty twelve"
            current += value
            prev = "tens" if value >= 20 else "small"
    return total + current


def _dates(text: str, taken: list[tuple[int, int]]) -> list[Quantity]:
    found: list[Quantity] = []
    for pattern in _DATES:
        for m in pattern.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            groups = m.groupdict()
            mon_text = groups["mon"]
            mon = int(mon_text) if mon_text.isdigit() else _MONTHS[mon_text[:3].lower()]
            day = int(groups.get("day") or 0)
            year = int(groups.get("year") or 0)
            if not 1 <= mon <= 12 or day > _DAYS_IN[mon - 1] or ("day" in groups and day < 1):
                continue
            unit = ("y" if year else "") + "m" + ("d" if day else "")
            taken.append(m.span())
            value = float(year * 10000 + mon * 100 + day)
            found.append(Quantity("date", value, unit, m.start(), m.end(), m.group()))
    return found


def _classify(text: str, m: re.Match[str]) -> Quantity | None:
    g = m.groupdict()
    start, end = m.span()
    if start > 1 and text[start - 1] == "-" and text[start - 2].isalpha():
        return None  # COVID-19, A-1
    if g["lit"] is not None:
        base = float(g["lit"].replace(",", ""))
        scale = (g["scale"] or "").strip()
        mult = _SCALE_WORDS.get(scale.lower()) or _ABBR.get(scale, 1.0)
    else:
        words_value = _words_value(g["words"])
        if words_value is None:
            return None
        base, scale, mult = words_value, "", 1.0
        if g["words"].lower() == "one" and not (g["pct"] or g["cur"] or g["cursuf"]):
            return None  # "one of the...", "no one"
    currency = (g["cur"] or "").strip() or (g["cursuf"] or "").lower().rstrip("s")
    if currency:
        code = _CURRENCIES.get(currency, currency.upper())
        return Quantity("money", base * mult, code, start, end, m.group())
    if scale == "m":  # "5m" without a currency: metres
        return Quantity("unit", base, "m", start, end, m.group())
    if g["pct"]:
        return Quantity("percent", base * mult, "%", start, end, m.group())
    if g["unit"]:
        unit = g["unit"]
        canon = _UNIT_OF.get(unit) or _UNIT_OF[re.sub(r"\s+", " ", unit.lower())]
        return Quantity("unit", base * mult, canon, start, end, m.group())
    lit = g["lit"] or ""
    if len(lit) == 4 and lit.isdigit() and 1000 <= base <= 2100 and not scale:
        prev = _PREV_WORD.search(text, 0, start)
        after = text[end : end + 2].lstrip()
        if (prev and prev.group(1).lower() in _YEAR_CUES) or not after[:1].isalpha():
            return Quantity("year", base, "", start, end, m.group())
    return Quantity("number", base * mult, "", start, end, m.group())


def extract_quantities(text: str) -> list[Quantity]:
    """The quantities in ``text``, in text order, never overlapping.

    Dates first, then money, percentages, measurements, years and plain numbers
    (digits with thousands separators and decimals, scales such as "1.2
    million" and "3bn", common written-out numbers). A lone "one" is not a
    number. List markers, versions, IP addresses, times, phone numbers and
    ID-like digit runs yield nothing.
    """
    taken = [m.span() for m in _IGNORE.finditer(text)]
    found = _dates(text, taken)
    taken.extend(m.span() for m in _DATE_LIKE.finditer(text))
    for decade in _DECADE.finditer(text):
        if not any(decade.start() < e and s < decade.end() for s, e in taken):
            taken.append(decade.span())
            value = float(decade.group("year"))
            found.append(Quantity("year", value, "s", *decade.span(), decade.group()))
    pos = 0
    while (m := _MASTER.search(text, pos)) is not None:
        if any(m.start() < e and s < m.end() for s, e in taken):
            pos = m.start() + 1
            continue
        pos = m.end()
        quantity = _classify(text, m)
        if quantity is not None:
            found.append(quantity)
    found.sort(key=lambda q: q.start)
    return found


def _close(a: float, b: float, tolerance: float) -> bool:
    scale = max(abs(a), abs(b))
    return abs(a - b) <= max(tolerance * scale, 1e-9 * max(scale, 1.0))


def _date_fields(q: Quantity) -> dict[str, int]:
    v = int(q.value)
    fields = {"y": v // 10000, "m": v // 100 % 100, "d": v % 100}
    if q.kind == "year":
        return {"y": v}
    return {k: fields[k] for k in q.unit}


def _compatible(claim: Quantity, other: Quantity) -> bool:
    """Whether ``other`` is of the same sort as the claim (a candidate replacement)."""
    kinds = {claim.kind, other.kind}
    if kinds <= {"number", "year"} or kinds == {"date"}:
        return True
    if claim.kind != other.kind:
        return False
    if claim.kind == "unit":
        return _UNIT_TABLE[claim.unit][0] == _UNIT_TABLE[other.unit][0]
    return claim.unit == other.unit


def _equal(claim: Quantity, other: Quantity, tolerance: float) -> bool:
    """Whether ``other`` (from the context) states the claim's quantity.

    A bare number (or year) matches a stated value of any sort; a date matches
    a date or year on the fields both have.
    """
    if "date" in (claim.kind, other.kind):
        if not {claim.kind, other.kind} <= {"date", "year"} or claim.unit == "s":
            return False
        mine, theirs = _date_fields(claim), _date_fields(other)
        shared = mine.keys() & theirs.keys()
        return bool(shared) and all(mine[k] == theirs[k] for k in shared)
    if claim.kind not in ("number", "year") and not _compatible(claim, other):
        return False
    a, b = claim.value, other.value
    if claim.kind == "unit":
        a, b = a * _UNIT_TABLE[claim.unit][1], b * _UNIT_TABLE[other.unit][1]
    return _close(a, b, 0.0 if claim.kind == "year" else tolerance)


def _format_like(claim: Quantity, other: Quantity) -> str:
    """``other``'s value written the way the claim writes its value, else ``other.text``."""
    lit = _LITERAL.search(claim.text)
    if "date" in (claim.kind, other.kind) or lit is None:
        return other.text
    shown = float(lit.group().replace(",", ""))
    if shown == 0:
        return other.text
    target = other.value
    if claim.kind == "unit":
        target *= _UNIT_TABLE[other.unit][1] / _UNIT_TABLE[claim.unit][1]
    new = target / (claim.value / shown)
    decimals = len(lit.group().partition(".")[2])
    for places in range(decimals, decimals + 3):
        if abs(round(new, places) - new) <= 1e-9 * max(abs(new), 1.0):
            sep = "," if "," in lit.group() else ""
            number = f"{new:{sep}.{places}f}"
            return claim.text[: lit.start()] + number + claim.text[lit.end() :]
    return other.text


@dataclass(frozen=True, slots=True)
class _Sentence:
    passage: int  # Passage.index
    start: int
    end: int
    text: str
    quantities: tuple[Quantity, ...]  # offsets relative to the sentence
    rest: str  # normalized text without its quantities


def _without(text: str, quantities: list[Quantity]) -> str:
    for q in reversed(quantities):
        text = text[: q.start] + " " + text[q.end :]
    return normalize(text)


class NumericCheck:
    """Report quantities of a sentence that the context does not state.

    Label ``"number_mismatch"`` (score 1.0) over the exact quantity. ``evidence``
    is the context sentence most like the rest of the claim; when that sentence
    holds exactly one quantity of the same sort, its value (written as the claim
    writes it where easy) is the ``replacement`` and is named in the message.
    ``data`` holds ``claim_value`` and the ``context_values`` of that sort in the
    evidence sentence. ``tolerance`` is relative: 0.05 accepts 5 % off (never
    for years and dates). A bare number matches a context value of any unit.
    Segments that are no claims (:func:`~detectors.claims.is_claim`: questions,
    greetings, code...) and calls without passages are not checked.
    """

    cpu_bound: bool = False

    def __init__(self, *, name: str = "numeric", tolerance: float = 0.0) -> None:
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)):
            raise ConfigError(f"numeric detector {name!r}: option 'tolerance' must be a number")
        if not 0.0 <= tolerance < 1.0:
            raise ConfigError(
                f"numeric detector {name!r}: option 'tolerance' must be in [0, 1), got {tolerance}"
            )
        self.name = name
        self.tolerance = float(tolerance)

    def _sentences(self, ctx: CheckContext) -> tuple[_Sentence, ...]:
        key = f"{self.name}:sentences"
        cached: tuple[_Sentence, ...] | None = ctx.memo.get(key)
        if cached is None:
            out = []
            for passage in ctx.passages:
                for seg in split(passage.text):
                    lead = len(seg.text) - len(seg.text.lstrip())
                    text = seg.text.strip()
                    if text:
                        qs = extract_quantities(text)
                        start = seg.start + lead
                        sentence = (passage.index, start, start + len(text), text, tuple(qs))
                        out.append(_Sentence(*sentence, _without(text, qs)))
            cached = ctx.memo[key] = tuple(out)
        return cached

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        """Return one finding per quantity of ``segment`` missing from the context."""
        if not ctx.passages or not is_claim(segment.text, segment.kind):
            return []
        claims = extract_quantities(segment.text)
        if not claims:
            return []
        sentences = self._sentences(ctx)
        stated = [q for s in sentences for q in s.quantities]
        missing = [c for c in claims if not any(_equal(c, q, self.tolerance) for q in stated)]
        if not missing:
            return []
        rest = _without(segment.text, claims)
        best: _Sentence | None = None
        best_score, best_key = 0.0, 0.0
        for sentence in sentences:  # ties go to the closer overall wording
            score = fuzz.token_set_ratio(rest, sentence.rest)
            key = score + fuzz.ratio(rest, sentence.rest) / 1000 if score else 0.0
            if key > best_key:
                best, best_score, best_key = sentence, score, key
        findings = []
        for claim in missing:
            peers = [q for q in best.quantities if _compatible(claim, q)] if best else []
            evidence: tuple[Evidence, ...] = ()
            message = f"{claim.text} is not in the context"
            replacement = None
            if best is not None:
                scores = {"similarity": best_score / 100}
                evidence = (Evidence(best.passage, best.start, best.end, best.text, scores),)
            if peers:
                message += f" (it says {' or '.join(q.text for q in peers)})"
            if len(peers) == 1:
                replacement = _format_like(claim, peers[0])
            findings.append(
                Finding(
                    detector=self.name,
                    label="number_mismatch",
                    span=(segment.start + claim.start, segment.start + claim.end),
                    score=1.0,
                    message=message,
                    evidence=evidence,
                    replacement=replacement,
                    data={
                        "claim_value": claim.value,
                        "context_values": [q.value for q in peers],
                        "kind": claim.kind,
                        "unit": claim.unit,
                    },
                )
            )
        return findings
