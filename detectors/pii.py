"""Personal data: e-mail addresses, phone numbers, cards, IBANs, IPv4 and US SSNs.

::

    PIIDetector(kinds=["email", "credit_card"])

Every finding is labelled with its kind and carries a replacement such as
``"[EMAIL]"``. The common obfuscations are personal data too, with exact spans:
an e-mail written ``ann [at] example [dot] com`` (brackets, braces or
parentheses around ``at``/``dot``), ``ann @ example . com``,
``ann@example dot com`` or letter-spaced ``a n n @ e x a m p l e . c o m``, and
a card number whose digit groups are joined by spaces, dashes or dots, mixed
(``4111-1111 1111.1111``; mixed or dotted groups must be card-shaped, four
digits each, or 4-6-5 / 4-6-4). ``ann at example dot com`` in plain words is
not reported: "look at example dot com" is ordinary prose.

Checksums keep the false positives down: a card number must pass the Luhn
check and an IBAN the ISO 13616 mod-97 check. Findings of different
kinds never overlap: where two candidates compete for the same characters the
more specific kind wins, in the order email, IBAN, card, SSN, IPv4, phone. That
arbitration runs even for kinds that are not enabled, so a card number is never
reported as a phone number just because cards are not asked for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

from detectors.base import CheckContext, Finding, Segment
from guardrails.errors import ConfigError

__all__ = ["ALL_KINDS", "PIIDetector", "PIIKind"]

PIIKind = Literal["email", "phone", "credit_card", "iban", "ipv4", "us_ssn"]
"""The kinds of personal data the detector knows."""

ALL_KINDS: tuple[PIIKind, ...] = ("email", "phone", "credit_card", "iban", "ipv4", "us_ssn")
"""Every kind, the default for ``kinds``."""

# Most specific first: an earlier kind claims its characters before a later one.
_PRIORITY: tuple[PIIKind, ...] = ("email", "iban", "credit_card", "us_ssn", "ipv4", "phone")

_MESSAGES: dict[PIIKind, str] = {
    "email": "e-mail address",
    "phone": "phone number",
    "credit_card": "payment card number (Luhn-valid)",
    "iban": "IBAN (checksum-valid)",
    "ipv4": "IPv4 address",
    "us_ssn": "US social security number",
}

_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL = re.compile(
    rf"(?<![\w.%+-]){_LOCAL}(?:\.{_LOCAL})*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![\w-])"
)
# Obfuscated forms: "@" with spaces, or "at"/"dot" in brackets, braces or parentheses;
# a plain-word " dot " only after a real or bracketed "at" (see the module docstring).
_AT = r" ?(?:@|[\[({<] ?(?i:at) ?[\])}>]) ?"
_BRACKET_DOT = r"[\[({<] ?(?i:dot) ?[\])}>] ?"
_DOT = rf"(?:\.|{_BRACKET_DOT}| (?:\. |{_BRACKET_DOT}|(?i:dot) ))"  # alternatives start apart
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL_OBFUSCATED = re.compile(
    rf"(?<![\w.%+-]){_LOCAL}(?:\.{_LOCAL})*{_AT}{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}[A-Za-z]{{2,63}}"
    r"(?![\w-])"
)
# Letter-spaced: one character, one space, one character... A match starts only at the
# first character of such a run (not after "x "): else every one of them would start a
# scan to the run's end, quadratic on a long run.
_EMAIL_SPACED = re.compile(
    r"(?<!\S)(?<!(?<!\S)[A-Za-z0-9._%+-] )"
    r"[A-Za-z0-9_%+-](?: [A-Za-z0-9._%+-])* @ [A-Za-z0-9-](?: [A-Za-z0-9-])*"
    r"(?: \. [A-Za-z0-9-](?: [A-Za-z0-9-])*)* \. [A-Za-z](?: [A-Za-z])+(?!\S)"
)
_DIGITS = re.compile(r"[0-9]+")
_CARD_RUN = re.compile(
    r"(?<![\w.,+-])[0-9]+(?:(?:[.-] ?| (?:[.-] )?)[0-9]+)*(?![\w]|[.,][0-9])", re.ASCII
)
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}"
    r"(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)(?![A-Za-z0-9])"
)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.[0-9])", re.ASCII)
_SSN = re.compile(
    r"(?<![\w.+-])(?!000|666|9[0-9]{2})[0-9]{3}-(?!00)[0-9]{2}-(?!0000)[0-9]{4}(?![\w]|-[0-9])",
    re.ASCII,
)
_PHONE = re.compile(
    r"(?<![\w+./-])(?:(?P<plus>\+[0-9]{1,3})[ .-]?)?(?:\((?P<area>[0-9]{1,5})\)[ .-]?)?"
    r"(?P<body>[0-9]{1,15}(?:[ .-][0-9]{1,15}){0,14})(?![\w/]|[.-][0-9])",  # <= 15 digits
    re.ASCII,
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if i % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0 and digits.strip("0") != ""


def _iban_ok(compact: str) -> bool:
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


_Found = Iterator[tuple[int, int, bool]]  # start, end, real (False: claim, do not report)


def _emails(text: str) -> _Found:
    for pattern in (_EMAIL, _EMAIL_OBFUSCATED, _EMAIL_SPACED):  # overlaps: the first wins
        for match in pattern.finditer(text):
            yield (*match.span(), True)


def _ibans(text: str) -> _Found:
    for match in _IBAN.finditer(text):
        parts = match.group().split(" ")
        # a greedy spaced match may have swallowed a following group: try shorter too
        for count in range(len(parts), 1 if len(parts) > 1 else 0, -1):
            if _iban_ok("".join(parts[:count])):
                yield match.start(), match.start() + len(" ".join(parts[:count])), True
                break
        else:  # IBAN-shaped but a bad checksum: its digits are no card or phone either
            yield (*match.span(), False)


def _card_shaped(sizes: list[int]) -> bool:
    """Digit groups as cards print them: fours (the last may be shorter), or 4-6-5 / 4-6-4."""
    fours = len(sizes) >= 3 and set(sizes[:-1]) == {4} and 1 <= sizes[-1] <= 4
    return fours or sizes in ([4, 6, 5], [4, 6, 4])


def _cards(text: str) -> _Found:
    for run in _CARD_RUN.finditer(text):
        groups = [
            (m.start() + run.start(), m.end() + run.start()) for m in _DIGITS.finditer(run.group())
        ]
        seps = [text[groups[k][1] : groups[k + 1][0]] for k in range(len(groups) - 1)]
        # candidates: each lone group, and each maximal stretch of groups joined by one
        # space or one dash ("4111-1111-1111-1111 2024" -> the dashed part and "2024")
        ranges = [(i, i) for i in range(len(groups))]
        i = 0
        while i < len(groups) - 1:
            sep, j = seps[i], i
            while j < len(groups) - 1 and seps[j] == sep and sep in (" ", "-"):
                j += 1
            ranges.append((i, j))
            i = max(j, i + 1)
        # ... and card-shaped stretches with any separators: "4111-1111 1111.1111". Dots
        # and mixed separators need the shape: "3.14159265358979" is no card.
        ranges += [
            (first, last)
            for first in range(len(groups))
            for last in range(first + 2, min(first + 5, len(groups)))
            if _card_shaped([e - s for s, e in groups[first : last + 1]])
        ]
        valid = []
        for first, last in ranges:
            digits = "".join(text[s:e] for s, e in groups[first : last + 1])
            if 13 <= len(digits) <= 19 and _luhn(digits):
                valid.append((groups[first][0], groups[last][1]))
        valid.sort(key=lambda span: (span[0] - span[1], span[0]))
        taken: list[tuple[int, int]] = []
        for span in valid:
            if not any(span[0] < e and s < span[1] for s, e in taken):
                taken.append(span)
        yield from ((start, end, True) for start, end in sorted(taken))


def _ipv4s(text: str) -> _Found:
    for match in _IPV4.finditer(text):
        yield (*match.span(), True)


def _ssns(text: str) -> _Found:
    for match in _SSN.finditer(text):
        yield (*match.span(), True)


def _looks_like_date(values: list[str]) -> bool:
    if len(values) != 3:
        return False
    sizes = [len(v) for v in values]
    a, b, c = (int(v) for v in values)
    if sizes[0] == 4 and max(sizes[1:]) <= 2:  # 2024-01-15
        return 1 <= min(b, c) <= 12 and max(b, c) <= 31
    if sizes[2] == 4 and max(sizes[:2]) <= 2:  # 15.01.2024, 01-15-2024
        return 1 <= min(a, b) <= 12 and max(a, b) <= 31
    return False


def _is_phone(plus: str | None, area: str | None, values: list[str], seps: list[str]) -> bool:
    sizes = [len(v) for v in values]
    digits = sum(sizes) + len(area or "") + len(plus or "") - (1 if plus else 0)
    if not 7 <= digits <= 15:
        return False
    if plus:  # +44 20 7946 0958, +4915112345678, +1 (555) 123-4567
        return True
    if area is not None:  # (555) 123-4567, (020) 7946 0958, (555) 1234567
        return len(area) >= 2 and (len(values) >= 2 or sizes[0] >= 7)
    if len(values) == 2:  # 555-1234, 030 12345678 (never 1234.5678 or 1999-2005)
        return (sizes == [3, 4] and seps == ["-"]) or (
            values[0].startswith("0")
            and 2 <= sizes[0] <= 5
            and 5 <= sizes[1] <= 8
            and seps != ["."]
        )
    if len(values) < 3 or max(sizes) > 5 or min(sizes[1:]) < 2:
        return False
    if len(set(seps)) > 1 and ("." in seps or len(values) > 3):
        return False  # mixed separators only as in "555 123-4567"
    if set(sizes) == {4} or (sizes == [3, 2, 4] and set(seps) == {"-"}):
        return False  # card/account-shaped or SSN-shaped
    if sizes[0] <= 3 and set(sizes[1:]) == {3} and set(seps) <= {" ", "."}:
        return False  # 12 345 678, 1.234.567: a number with thousands separators
    return not _looks_like_date(values)


def _phones(text: str) -> _Found:
    pos = 0
    while (match := _PHONE.search(text, pos)) is not None:
        body = match.group("body")
        groups = list(_DIGITS.finditer(body))
        values = [g.group() for g in groups]
        seps = [body[g.end()] for g in groups[:-1]]
        plus, area = match.group("plus"), match.group("area")
        pos = match.end()
        # a space may separate numbers that are not part of the phone: drop trailing
        # space-separated groups until it fits, else retry after the first space
        for count in range(len(groups), 0, -1):
            if _is_phone(plus, area, values[:count], seps[: count - 1]):
                yield match.start(), match.start("body") + groups[count - 1].end(), True
                break
            if count < 2 or seps[count - 2] != " ":
                if " " in seps:
                    pos = match.start("body") + groups[seps.index(" ")].end() + 1
                break


_FINDERS = {
    "email": _emails,
    "iban": _ibans,
    "credit_card": _cards,
    "us_ssn": _ssns,
    "ipv4": _ipv4s,
    "phone": _phones,
}


class PIIDetector:
    """Report personal data in the output, one finding per occurrence.

    Labels are the kind names (``"email"``, ``"phone"``, ``"credit_card"``,
    ``"iban"``, ``"ipv4"``, ``"us_ssn"``); spans are exact and global; the
    replacement is the upper-cased kind in brackets (``"[CREDIT_CARD]"``). Code
    segments are scanned too: a key or address in a code block is still
    personal data.
    """

    cpu_bound: bool = False

    def __init__(self, *, name: str = "pii", kinds: list[PIIKind] | None = None) -> None:
        if kinds is not None and not kinds:
            raise ConfigError(f"pii detector {name!r}: option 'kinds' must not be empty")
        for kind in kinds or ():
            if kind not in ALL_KINDS:
                raise ConfigError(
                    f"pii detector {name!r}: option 'kinds' has unknown kind {kind!r}; "
                    f"expected some of {list(ALL_KINDS)}"
                )
        self.name = name
        self.kinds: frozenset[PIIKind] = frozenset(kinds or ALL_KINDS)
        # a kind can only be crowded out by kinds before it: scan no further than needed
        last = max(_PRIORITY.index(kind) for kind in self.kinds)
        self._scan: tuple[PIIKind, ...] = _PRIORITY[: last + 1]

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        """Return the personal data found in ``segment``, in text order."""
        text = segment.text
        if segment.kind == "blank" or not text.strip():
            return []
        taken: list[tuple[int, int]] = []
        found: list[tuple[int, int, PIIKind]] = []
        for kind in self._scan:
            for start, end, real in _FINDERS[kind](text):
                if any(start < e and s < end for s, e in taken):
                    continue
                taken.append((start, end))
                if real and kind in self.kinds:
                    found.append((start, end, kind))
        found.sort()
        return [
            Finding(
                detector=self.name,
                label=kind,
                span=(segment.start + start, segment.start + end),
                message=_MESSAGES[kind],
                replacement=f"[{kind.upper()}]",
            )
            for start, end, kind in found
        ]
