"""The model-backed detectors: grounding cascade, nli, self_consistency, embedding.

They run on tiny random models the tests build (no network, no torch); where a
test needs the NLI to say something specific, the scorer is replaced by a fake.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import guardrails as gr
from detectors.base import CheckContext, Passage, Segment
from detectors.embedding import EmbeddingSimilarity
from detectors.grounding import Grounding
from detectors.nli import NLICheck
from detectors.self_consistency import SelfConsistency
from detectors.tiny_models import build_tiny_cross_encoder, build_tiny_embedder
from guardrails.segmenter import split
from guardrails.testing import FakeLLM, check_accounting
from policies import Correct, Policy, Rule, When

CONTEXT = [
    "The Eiffel Tower is 330 metres tall. It opened in 1889 in Paris.",
    "Gustave Eiffel's company designed and built the tower for the World's Fair.",
]


@pytest.fixture(scope="module")
def nli_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("models") / "nli")


@pytest.fixture(scope="module")
def embed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_embedder(tmp_path_factory.mktemp("models") / "embed")


class FakeNLI:
    """Stands in for the scorer: fixed probabilities per hypothesis keyword."""

    def __init__(self, table: dict[str, tuple[float, float, float]]) -> None:
        self.table = table
        self.pairs: list[tuple[str, str]] = []

    def score(self, pairs: list[tuple[str, str]]) -> list[dict[str, float]]:
        self.pairs += pairs
        out = []
        for _, hyp in pairs:
            e, n, c = next((v for k, v in self.table.items() if k in hyp), (0.1, 0.8, 0.1))
            out.append({"entailment": e, "neutral": n, "contradiction": c})
        return out

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def check_all(det: object, text: str, context: list[str] = CONTEXT) -> list[tuple[str, str]]:
    ctx = CheckContext([Passage(t, i) for i, t in enumerate(context)])
    return [
        (f.label, text[f.span[0] : f.span[1]])
        for seg in split(text)
        for f in det.check(seg, ctx)  # type: ignore[attr-defined]
    ]


def test_cascade_labels(nli_dir: Path) -> None:
    g = Grounding(model=str(nli_dir))
    g.nli = FakeNLI({"painted gold": (0.05, 0.9, 0.05), "in Rome": (0.05, 0.1, 0.85)})  # type: ignore[assignment]
    text = "Hi there! It opened in 1889 in Paris. The tower is 300 metres tall. It is painted gold. It opened in Rome."
    assert check_all(g, text) == [
        ("not_a_claim", "Hi there!"),
        ("supported", "It opened in 1889 in Paris."),  # verbatim: no model call
        ("number_mismatch", "300 metres"),
        ("unsupported", "It is painted gold."),
        ("contradicted", "It opened in Rome."),
    ]
    assert not any("1889 in Paris" in hyp for _, hyp in g.nli.pairs)  # type: ignore[attr-defined]


def test_a_presupposing_question_is_checked_for_its_statement(nli_dir: Path) -> None:
    g = Grounding(model=str(nli_dir))
    g.nli = FakeNLI({"painted gold": (0.05, 0.9, 0.05)})  # type: ignore[assignment]
    text = "Did you know it opened in 1889 in Paris? Did you know that it is painted gold?"
    assert check_all(g, text) == [
        ("supported", "Did you know it opened in 1889 in Paris?"),  # the statement is verbatim
        ("unsupported", "Did you know that it is painted gold?"),
    ]
    assert g.nli.pairs and all(hyp == "it is painted gold" for _, hyp in g.nli.pairs)  # type: ignore[attr-defined]
    assert check_all(g, "Did you know the tower is 300 metres tall?") == [
        ("number_mismatch", "300 metres")
    ]


def test_number_mismatch_carries_the_evidence_value(nli_dir: Path) -> None:
    g = Grounding(model=str(nli_dir))
    ctx = CheckContext([Passage(t, i) for i, t in enumerate(CONTEXT)])
    seg = Segment(" The tower is 300 metres tall.", 40, 70)
    (finding,) = g.check(seg, ctx)
    assert finding.replacement == "330 metres"
    assert finding.support is not None and 0.0 <= finding.support <= 1.0
    ev = finding.evidence[0]
    assert CONTEXT[ev.passage][ev.start : ev.end] == ev.text
    assert "330 metres" in ev.text


def test_no_context_means_no_findings_and_questions_are_not_claims(nli_dir: Path) -> None:
    g = Grounding(model=str(nli_dir))
    assert g.check(Segment("The sky is green.", 0, 17), CheckContext()) == []
    assert check_all(g, "Is the tower tall?") == [("not_a_claim", "Is the tower tall?")]


def test_rag_policy_fixes_numbers_and_reports_evidence_end_to_end(nli_dir: Path) -> None:
    grounding = Grounding(model=str(nli_dir))
    policy = Policy(
        [
            Rule(When("grounding", labels=frozenset({"number_mismatch"})), Correct("fix_numbers")),
            Rule(When("grounding", labels=frozenset({"unsupported", "contradicted"})), gr.Warn()),
        ]
    )
    guard = gr.Guard([grounding], policy)
    answer = "The tower is 300 metres tall. It opened in 1889 in Paris."
    events = list(guard.events(FakeLLM(answer).stream(), CONTEXT))
    result = check_accounting(events)
    assert result.text == "The tower is 330 metres tall. It opened in 1889 in Paris."
    first, second = result.segments
    assert first.label == "contradicted" and first.fate == "corrected"
    assert second.label == "supported" and second.support == 1.0
    assert second.evidence[0].passage == 0
    assert result.support == first.support

    async def run() -> gr.GuardResult:
        return await guard.avalidate(answer, CONTEXT)

    assert asyncio.run(run()).text == result.text


def test_sentences_of_concurrent_streams_share_batches_and_the_cache(nli_dir: Path) -> None:
    g = Grounding(model=str(nli_dir), max_wait_ms=20)
    guard = gr.Guard([g])
    answer = "It is painted gold every year. Visitors climb it daily. The lift is slow."

    async def many() -> list[str]:
        async def one() -> str:
            return (await guard.avalidate(answer, CONTEXT)).text

        return await asyncio.gather(*(one() for _ in range(6)))

    assert asyncio.run(many()) == [answer] * 6
    stats = g.nli._batcher.stats  # type: ignore[union-attr]
    assert stats.batches < stats.items  # pairs were batched together
    assert stats.hits > 0  # the same pairs from other streams came from the cache


def test_default_model_missing_is_a_clear_model_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import detectors._shared as shared

    monkeypatch.setattr(shared, "MODELS_DIR", tmp_path)
    with pytest.raises(gr.ModelError, match="default model 'nli-minilm-l6' is not installed"):
        Grounding()


def test_nli_check_flags_contradictions_only(nli_dir: Path) -> None:
    det = NLICheck(model=str(nli_dir))
    det.nli = FakeNLI({"Rome": (0.05, 0.1, 0.85)})  # type: ignore[assignment]
    assert check_all(det, "It opened in Rome. It is painted gold.") == [
        ("contradicted", "It opened in Rome.")
    ]


def test_self_consistency_against_earlier_sentences(nli_dir: Path) -> None:
    det = SelfConsistency(model=str(nli_dir))
    det.nli = FakeNLI({"never opened": (0.0, 0.1, 0.9)})  # type: ignore[assignment]
    guard = gr.Guard([det])
    result = guard.validate("The tower opened in 1889. It is tall. The tower never opened.")
    (finding,) = result.findings
    assert finding.label == "self_contradiction"
    ev = finding.evidence[0]
    assert ev.passage == -1
    assert result.upstream[ev.start : ev.end] == ev.text


def test_embedding_similarity(embed_dir: Path) -> None:
    det = EmbeddingSimilarity(model=str(embed_dir), threshold=0.999)
    found = check_all(det, "Completely unrelated words about bananas.")
    assert found == [("low_similarity", "Completely unrelated words about bananas.")]
    lenient = EmbeddingSimilarity(model=str(embed_dir), threshold=-1.0)
    assert check_all(lenient, "Anything at all here.") == []


def test_grounding_types_load_from_a_pack(nli_dir: Path, tmp_path: Path) -> None:
    pack = tmp_path / "p.yaml"
    pack.write_text(
        f"name: p\ndetectors:\n  grounding: {{type: grounding, model: '{nli_dir}', top_k: 2}}\n"
        "rules:\n  - when: {detector: grounding, label: unsupported}\n    action: annotate\n",
        encoding="utf-8",
    )
    guard = gr.Guard.from_yaml(pack)
    result = guard.validate("It opened in 1889 in Paris.", CONTEXT)
    assert result.segments[0].label == "supported"


def test_fusion_weights_and_bias_come_from_the_pack(nli_dir: Path, tmp_path: Path) -> None:
    pack = tmp_path / "p.yaml"
    pack.write_text(
        f"name: p\ndetectors:\n  grounding:\n    type: grounding\n    model: '{nli_dir}'\n"
        "    fusion_weights: {lexical: 3.0}\n    fusion_bias: -1.0\n"
        "    support_threshold: 0.4\n",
        encoding="utf-8",
    )
    det = gr.Guard.from_yaml(pack).detectors[0]
    assert isinstance(det, Grounding)
    assert det.fusion.weights == {"lexical": 3.0}
    assert (det.fusion.bias, det.fusion.support_threshold) == (-1.0, 0.4)
    # support = sigmoid(-1 + 3 * lexical): a word-for-word paraphrase is supported
    assert det.fusion.support({"lexical": 1.0, "entailment": 0.0}) > 0.8


def test_unknown_fusion_signal_is_refused(nli_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown signal.*lexcal"):
        Grounding(model=str(nli_dir), fusion_weights={"lexcal": 1.0})


def test_check_command_prints_labels_and_evidence(
    nli_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from guardrails.cli import main

    pack = tmp_path / "p.yaml"
    pack.write_text(
        f"name: p\ndetectors:\n  grounding: {{type: grounding, model: '{nli_dir}'}}\n",
        encoding="utf-8",
    )
    answer = tmp_path / "a.txt"
    answer.write_text("It opened in 1889 in Paris.", encoding="utf-8")
    context = tmp_path / "c.txt"
    context.write_text(CONTEXT[0], encoding="utf-8")
    assert main(["check", str(answer), "--context", str(context), "--policy", str(pack)]) == 0
    out = capsys.readouterr().out
    assert "supported (support 1.00)" in out
    assert "evidence: passage 1 [0:" in out
    assert (
        main(["check", str(answer), "--context", str(context), "--policy", str(pack), "--json"])
        == 0
    )
    data = __import__("json").loads(capsys.readouterr().out)
    assert data["segments"][0]["evidence"][0]["passage"] == 0


def test_hybrid_retrieval_scores_windows_by_wording_and_meaning(
    nli_dir: Path, embed_dir: Path
) -> None:
    g = Grounding(model=str(nli_dir), retrieval="hybrid", embedder=str(embed_dir), top_k=2)
    ctx = CheckContext([Passage(t, i) for i, t in enumerate(CONTEXT)])
    (finding,) = g.check(Segment("The tower was built for a fair.", 0, 31), ctx)
    assert finding.evidence
    assert all({"cosine", "lexical_rank", "entailment"} <= set(e.scores) for e in finding.evidence)
    assert (
        len(ctx.memo["grounding.vectors"]) == 2
    )  # both windows embedded once, cached for the call
