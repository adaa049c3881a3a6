"""The shipped models: present, verified, and enough on their own (no torch at run time)."""

from __future__ import annotations

import subprocess
import sys

import guardrails as gr
from detectors._shared import DEFAULT_EMBEDDING, DEFAULT_NLI, MODELS_DIR
from detectors.runtime import ModelDir

CHECK = """
import sys
import guardrails as gr
guard = gr.Guard.from_pack("rag-strict")
result = guard.validate(
    "The Eiffel Tower is 300 metres tall. It opened in 1889.",
    ["The Eiffel Tower is 330 metres tall. It opened in 1889 for the World's Fair."],
)
heavy = sorted(m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules)
assert not heavy, heavy
print(result.text)
"""


def test_shipped_models_are_installed_and_verified() -> None:
    for name, kind in ((DEFAULT_NLI, "cross-encoder"), (DEFAULT_EMBEDDING, "embedding")):
        md = ModelDir(MODELS_DIR / name)
        md.verify()
        assert md.kind == kind
        assert md.model_path.stat().st_size <= 30 * 1024 * 1024
        assert md.card.get("metrics") or md.card.get("dev_metrics")


def test_the_cascade_runs_on_the_shipped_models_without_torch() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "The Eiffel Tower is 330 metres tall. It opened in 1889."


def test_every_builtin_pack_builds_with_the_shipped_models() -> None:
    from policies.loader import builtin_packs

    for name in builtin_packs():
        gr.Guard.from_pack(name).close()


def test_every_builtin_pack_passes_its_golden_cases() -> None:
    from guardrails.cli import main
    from policies.loader import builtin_packs

    assert main(["packs", "test", *builtin_packs()]) == 0
