"""The NLI training pool: the NLI files as they are plus synthetic sentence-level pairs
from the HaluEval *contexts*, a held-out split, and a label-balanced composition.

HaluEval *responses* are used in one way only: the right summaries of the
summarization file (label 0; reference highlights of the article), sentence by sentence,
as rewordings of their document (see :func:`scripts.pairgen.summary_pairs`).
Hallucinated responses are not used. Taken whole their labels track length
and style, not grounding (FINDINGS: right QA answers have a median of 2 words and no
full stop, hallucinated ones 9 words and a full stop; v1 trained on them scored below
the lexical baseline). A length-matched, sentence-level use is not available either:
the labels are per response, so which sentence of a hallucinated response is the
unsupported one is unknown, and "hallucinated" does not say neutral or contradiction.
The contexts, on the other hand, are clean grounding documents: every synthetic pair
is (runtime window of a context, a sentence derived from that window), so its label is
known by construction (see :mod:`scripts.pairgen`).

No torch here: the module is importable wherever the library is.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from scripts.buildlib import LOG, DataFiles, show
from scripts.pairgen import LABELS, Doc, Pair, clean_context, make_pairs, summary_pairs

__all__ = [
    "CONTEXT_SHARES",
    "NLI_FILES",
    "batches_by_length",
    "compose",
    "counts",
    "load_docs",
    "load_nli",
    "pair_from_row",
    "split_holdout",
    "synthetic_pairs",
]

NLI_FILES = ("nli_mnli.jsonl", "factcheckgpt_stance.jsonl", "dialfact_small.jsonl")
SUMMARIES = "halueval_summarization.jsonl"  # its right summaries: see summary_pairs
CONTEXT_SHARES = {  # share of the sampled context documents per HaluEval file
    "halueval_summarization.jsonl": 0.5,
    "halueval_qa.jsonl": 0.35,
    "halueval_dialogue.jsonl": 0.15,
}


def _key(text: str) -> str:
    return hashlib.sha256(" ".join(text.lower().split()).encode("utf-8")).hexdigest()[:16]


def pair_from_row(row: dict[str, Any], source: str) -> Pair:
    label = row["label"]
    if label not in LABELS:
        raise ValueError(f"{source} row {row.get('id')}: label {label!r} is not one of {LABELS}")
    return Pair(row["premise"], row["hypothesis"], label, source, "nli", _key(row["premise"]))


def _training_file(path: Path, require: bool) -> Path | None:
    """``path`` when it exists; else stop (``require``) or warn that it is left out."""
    if path.is_file():
        return path
    if require:
        raise SystemExit(f"missing training file {show(path)}")
    LOG.warning("no %s: left out", show(path))
    return None


def load_nli(files: DataFiles, train_dir: Path, *, limit: int | None, require: bool) -> list[Pair]:
    pairs: list[Pair] = []
    for name in NLI_FILES:
        path = _training_file(train_dir / name, require)
        if path is None:
            continue
        pairs.extend(pair_from_row(r, path.stem) for r in files.read(path, limit))
    return pairs


def load_docs(
    files: DataFiles,
    train_dir: Path,
    *,
    n_docs: int | None,
    seed: int,
    limit: int | None,
    require: bool,
) -> list[tuple[str, list[Doc]]]:
    """Unique HaluEval contexts per file (cleaned), sampled to ``n_docs`` by the shares."""
    out: list[tuple[str, list[Doc]]] = []
    for name, share in CONTEXT_SHARES.items():
        path = _training_file(train_dir / name, require)
        if path is None:
            continue
        seen: dict[str, Doc] = {}
        summaries = name == SUMMARIES
        for row in files.read(path, limit):
            key = _key(row["context"])
            if key not in seen and row["context"].strip():
                text = clean_context(row["context"], triples=name == "halueval_dialogue.jsonl")
                seen[key] = Doc(f"{path.stem}:{key}", text)
            if summaries and key in seen and row["label"] == 0 and not seen[key].summary:
                seen[key] = replace(seen[key], summary=row["response"])
        docs = list(seen.values())
        random.Random(f"{seed}:{name}").shuffle(docs)
        if n_docs is not None:
            docs = docs[: max(1, round(n_docs * share))]
        files.note(
            files.rel(path),
            unique_contexts=len(seen),
            contexts_sampled=len(docs),
            fields_used=["context", "response (label 0)"] if summaries else ["context"],
        )
        out.append((path.stem, docs))
    return out


def synthetic_pairs(
    groups: Sequence[tuple[str, list[Doc]]],
    *,
    seed: int,
    count_tokens: Callable[[str], int] | None,
    max_tokens: int,
    windows_per_doc: int,
) -> list[Pair]:
    pairs: list[Pair] = []
    for source, docs in groups:
        made = make_pairs(
            docs,
            seed=seed,
            source=f"synthetic:{source}",
            max_tokens=max_tokens,
            count_tokens=count_tokens,
            windows_per_doc=windows_per_doc,
        )
        LOG.info(
            "synthetic pairs from %s: %d docs -> %d pairs %s",
            source,
            len(docs),
            len(made),
            dict(Counter(p.label for p in made)),
        )
        pairs.extend(made)
        if any(d.summary for d in docs):
            reworded = summary_pairs(
                docs,
                seed=seed,
                source=f"summary:{source}",
                max_tokens=max_tokens,
                count_tokens=count_tokens,
            )
            LOG.info(
                "summary-sentence pairs from %s: %d pairs %s",
                source,
                len(reworded),
                dict(Counter(p.label for p in reworded)),
            )
            pairs.extend(reworded)
    return pairs


def split_holdout(pairs: Sequence[Pair], frac: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """Held out by document (synthetic) or premise (NLI files): no premise in both parts."""
    train: list[Pair] = []
    held: list[Pair] = []
    for pair in pairs:
        digest = hashlib.sha256(f"{seed}:{pair.doc}".encode()).digest()
        (held if int.from_bytes(digest[:4], "big") / 2**32 < frac else train).append(pair)
    return train, held


def compose(
    nli: Sequence[Pair], synthetic: Sequence[Pair], total: int, nli_share: float, seed: int
) -> list[Pair]:
    """About ``total`` pairs with exactly equal label counts: up to ``nli_share`` of them
    from the NLI files (a seeded random subset), the rest synthetic, chosen per label to
    fill each label up to the same count. With too few pairs of a label, all labels
    shrink to that count."""
    rng = random.Random(seed)
    nli_order = list(nli)
    rng.shuffle(nli_order)
    chosen = nli_order[: min(len(nli_order), round(total * nli_share))]
    by_label: dict[str, list[Pair]] = {label: [] for label in LABELS}
    for pair in synthetic:
        by_label[pair.label].append(pair)
    from_nli = {label: [p for p in chosen if p.label == label] for label in LABELS}
    per_label = min(
        [round(total / len(LABELS))]
        + [len(from_nli[label]) + len(by_label[label]) for label in LABELS]
    )
    out: list[Pair] = []
    for label in LABELS:
        pool = by_label[label]
        random.Random(f"{seed}:{label}").shuffle(pool)
        mine = from_nli[label][:per_label]
        out.extend(mine + pool[: per_label - len(mine)])
    rng.shuffle(out)
    return out


def counts(pairs: Sequence[Pair]) -> dict[str, Any]:
    by_source: dict[str, Counter[str]] = {}
    by_kind: Counter[str] = Counter()
    for pair in pairs:
        by_source.setdefault(pair.source, Counter())[pair.label] += 1
        if pair.kind != "nli":
            by_kind[f"{pair.label}/{pair.kind}"] += 1
    return {
        "total": len(pairs),
        "by_label": dict(Counter(p.label for p in pairs)),
        "by_source_and_label": {s: dict(c) for s, c in sorted(by_source.items())},
        "synthetic_by_label_and_kind": dict(sorted(by_kind.items())),
    }


def batches_by_length(
    lengths: Sequence[int], batch_size: int, seed: int, chunk_batches: int = 50
) -> list[list[int]]:
    """Index batches: the (already shuffled) pairs are cut into chunks of ``chunk_batches``
    batches, each sorted by length before batching (less padding), and the batch order
    is shuffled with the seed."""
    batches: list[list[int]] = []
    chunk = batch_size * chunk_batches
    for start in range(0, len(lengths), chunk):
        idx = sorted(range(start, min(start + chunk, len(lengths))), key=lambda i: lengths[i])
        batches.extend(idx[i : i + batch_size] for i in range(0, len(idx), batch_size))
    random.Random(seed).shuffle(batches)
    return batches


def to_rows(pairs: Sequence[Pair]) -> list[dict[str, Any]]:
    return [asdict(p) for p in pairs]


def from_rows(rows: Sequence[dict[str, Any]]) -> list[Pair]:
    return [Pair(**r) for r in rows]
