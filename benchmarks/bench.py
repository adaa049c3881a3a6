"""``guardrails bench`` from a checkout: the same options, the same report.

The measurements live in the package (``guardrails.bench``) so that the
installed command has them; see docs/benchmarks.md.

Run: python benchmarks/bench.py [--quick] [--device auto|cpu|cuda] [--json OUT]
                                [--only SECTION...]
"""

from __future__ import annotations

import sys

from guardrails.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
