"""``guardrails eval`` and ``guardrails calibrate``: argument parsers and entry points.

This module stays light (argparse only) so that ``guardrails --help`` does not load
numpy or the models; the commands live in :mod:`guardrails._eval_cmd` and
:mod:`guardrails._calibrate_cmd`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_parsers", "run_calibrate", "run_eval"]


# ------------------------------------------------------------------ parsers


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return value


def _common(p: argparse.ArgumentParser, default_pack: str) -> None:
    p.add_argument("data", nargs="+", type=Path, help="JSON Lines files or folders of *.jsonl")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--pack", help=f"built-in pack name or pack file (default: {default_pack})")
    source.add_argument("--policy", type=Path, help="a YAML pack file")
    p.add_argument("--detector", help="which grounding detector (when the pack has several)")
    p.add_argument(
        "--limit", type=_positive_int, metavar="N", help="at most N rows per file (a fixed sample)"
    )
    p.set_defaults(default_pack=default_pack)


def add_parsers(sub: Any, default_pack: str) -> None:
    """Add the ``eval`` and ``calibrate`` subcommands to ``sub`` (an argparse
    subparsers object)."""
    ev = sub.add_parser("eval", help="metrics of a pack's grounding on labelled JSONL data")
    _common(ev, default_pack)
    ev.add_argument(
        "--level",
        choices=["response", "sentence"],
        default="response",
        help="judge whole responses (default) or the labelled sentences of format B data",
    )
    ev.add_argument(
        "--baselines",
        action="store_true",
        help="also score the NLI model alone and the lexical and embedding baselines",
    )
    ev.add_argument("--json", type=Path, metavar="OUT", help="also write the full report here")

    cal = sub.add_parser(
        "calibrate", help="fit a pack's grounding thresholds on labelled data, write a new pack"
    )
    _common(cal, default_pack)
    cal.add_argument(
        "--target",
        choices=["precision", "recall", "f1", "balanced"],
        required=True,
        help="what the support threshold maximises on the fitting rows",
    )
    cal.add_argument(
        "--min-precision",
        type=_probability,
        metavar="X",
        help="only thresholds with precision >= X compete (exit 1 when none reaches it)",
    )
    cal.add_argument(
        "--holdout", type=_fraction, default=0.3, help="fraction of rows held out (0.3)"
    )
    cal.add_argument("--seed", type=int, default=0, help="seed of the split and --limit (0)")
    cal.add_argument(
        "--keep-fusion",
        action="store_true",
        help="fit only the support threshold; keep the pack's fusion weights",
    )
    cal.add_argument("-o", "--output", type=Path, required=True, help="the new pack file")
    cal.add_argument("--plot", type=Path, metavar="PNG", help="threshold curve (needs matplotlib)")


# -------------------------------------------------------------- entry points


def run_eval(args: argparse.Namespace) -> int:
    """``guardrails eval``: exit 0 with the report, 2 on bad data or a pack without grounding."""
    from guardrails._eval_cmd import eval_command

    return eval_command(args)


def run_calibrate(args: argparse.Namespace) -> int:
    """``guardrails calibrate``: exit 0 after writing the pack, 1 when ``--min-precision``
    cannot be reached (nothing written), 2 on bad input."""
    from guardrails._calibrate_cmd import calibrate_command

    return calibrate_command(args)
