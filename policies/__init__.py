"""Policies: rules that turn findings into actions.

Pure values and functions; nothing here knows about streams, drivers or LLMs.
"""

from policies.actions import Action, Allow, Block, Correct, Cut, Raise, Regenerate, Warn, severity
from policies.rules import Match, Policy, Rule, Verdict, When

__all__ = [
    "Action",
    "Allow",
    "Block",
    "Correct",
    "Cut",
    "Match",
    "Policy",
    "Raise",
    "Regenerate",
    "Rule",
    "Verdict",
    "Warn",
    "When",
    "severity",
]
