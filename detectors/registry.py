"""The detector types a pack may name, by their YAML ``type``.

An explicit, read-only table: importing this module registers nothing and
nothing can be added to it at run time. A pack loader looks a name up with
:func:`detector_type` and builds the instance from the class's keyword-only,
annotated ``__init__`` parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from rapidfuzz import process, utils

from detectors.banned import BannedPhrases
from detectors.base import Detector
from detectors.claims import ClaimFilter
from detectors.embedding import EmbeddingSimilarity
from detectors.entities import EntityCheck
from detectors.grounding import Grounding
from detectors.json_schema import JsonSchemaDetector
from detectors.length import LengthLimit
from detectors.lexical import LexicalSupport
from detectors.nli import NLICheck
from detectors.numeric import NumericCheck
from detectors.pii import PIIDetector
from detectors.regex import RegexDetector
from detectors.self_consistency import SelfConsistency
from guardrails.errors import ConfigError

__all__ = ["DETECTOR_TYPES", "PLANNED_TYPES", "detector_type"]

DETECTOR_TYPES: Mapping[str, type[Detector]] = MappingProxyType(
    {
        "regex": RegexDetector,
        "banned": BannedPhrases,
        "pii": PIIDetector,
        "json_schema": JsonSchemaDetector,
        "length": LengthLimit,
        "claims": ClaimFilter,
        "numeric": NumericCheck,
        "entities": EntityCheck,
        "lexical": LexicalSupport,
        "embedding": EmbeddingSimilarity,
        "nli": NLICheck,
        "grounding": Grounding,
        "self_consistency": SelfConsistency,
    }
)
"""YAML type name -> detector class."""

PLANNED_TYPES: Mapping[str, str] = MappingProxyType({})
"""Detector types a later version adds -> when. Naming one is an error, never a no-op."""


def detector_type(name: str) -> type[Detector]:
    """Return the detector class registered as ``name``.

    Raises :class:`~guardrails.errors.ConfigError` for a planned type this
    version does not have yet (a pack that needs it must fail, not pass
    silently) and for an unknown name, with a "did you mean" suggestion when one
    is close.
    """
    try:
        return DETECTOR_TYPES[name]
    except (KeyError, TypeError):
        pass
    if isinstance(name, str) and name in PLANNED_TYPES:
        raise ConfigError(
            f"detector type {name!r} is not available yet in this version "
            f"({PLANNED_TYPES[name]}); available types: {', '.join(sorted(DETECTOR_TYPES))}"
        )
    known = ", ".join(sorted(DETECTOR_TYPES))
    close = None
    if isinstance(name, str):
        close = process.extractOne(
            name, DETECTOR_TYPES.keys(), processor=utils.default_process, score_cutoff=60
        )
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"unknown detector type {name!r}{hint} (known types: {known})")
