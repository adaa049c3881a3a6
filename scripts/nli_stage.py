"""The ``nli`` stage: pool -> plan (sized from a throughput probe) -> train, then
:mod:`scripts.nli_finish`: ONNX export -> int8 quantization -> evaluation -> install
``detectors/models/nli-minilm-l6``.

Each step's result is recorded in ``<work-dir>/state.json``; rerunning the same command
skips finished steps and resumes training from its last checkpoint. ``--redo STEP``
forgets STEP and everything after it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scripts import nli_finish
from scripts.buildlib import (
    LOG,
    Clock,
    DataFiles,
    Steps,
    base_model_dir,
    iter_jsonl,
    read_json,
    run_step,
    show,
    write_json,
    write_jsonl,
)
from scripts.nli_data import (
    batches_by_length,
    compose,
    counts,
    from_rows,
    load_docs,
    load_nli,
    pair_from_row,
    split_holdout,
    synthetic_pairs,
    to_rows,
)
from scripts.nli_train import TrainConfig, load_model, probe, token_lengths, train
from scripts.pairgen import Pair

STEPS = ("pairs", "plan", "train", "export", "quantize", "evaluate", "install")
WINDOW_TOKENS = 128
SAFETY = 1.1  # the probe's few steps run faster than a long run on a shared machine


@dataclass(frozen=True)
class Settings:
    mode: str  # "smoke" | "default" | "full"
    data_dir: Path
    out_dir: Path
    work_dir: Path
    budget_s: float | None
    rows_limit: int | None
    n_docs: int | None
    windows_per_doc: int
    holdout_frac: float
    nli_share: float
    train_pairs: int | None
    epochs: int
    selection_n: int
    holdout_eval_n: int
    anli_n: int | None
    parity_n: int
    cfg: TrainConfig


class NLIStage:
    def __init__(self, s: Settings, clock: Clock, command: str) -> None:
        self.s, self.clock, self.command = s, clock, command
        self.steps = Steps(s.work_dir)
        self._model: tuple[Any, Any] | None = None

    def model(self) -> tuple[Any, Any]:
        if self._model is None:
            self._model = load_model(self.s.cfg.max_length, self.s.cfg.seed, self.s.cfg.device)
        return self._model

    def path(self, name: str) -> Path:
        return self.s.work_dir / name

    def pairs_file(self, name: str) -> list[Pair]:
        return from_rows(list(iter_jsonl(self.path(name))))

    def run(self, until: str | None = None) -> dict[str, Any]:
        for name in STEPS:
            run_step(self.steps, name, getattr(self, f"step_{name}"))
            if name == until:
                break
        return dict(self.steps.state)

    def anli(self, files: DataFiles | None = None) -> list[Pair]:
        path = self.s.data_dir / "dev" / "anli_dev.jsonl"
        if not path.is_file():
            if self.s.mode != "smoke":
                raise SystemExit(f"missing dev file {show(path)}")
            return []
        reader = files or DataFiles(self.s.data_dir)
        return [pair_from_row(r, "anli_dev") for r in reader.read(path, self.s.anli_n)]

    def parity_pairs(self) -> list[Pair]:
        n = self.s.parity_n
        held = self.pairs_file("holdout_eval.jsonl")[: n // 2]
        return (held + self.anli()[: n - len(held)])[:n]

    # ------------------------------------------------------------------------- steps

    def step_pairs(self) -> dict[str, Any]:
        from tokenizers import Tokenizer

        s = self.s
        tok = Tokenizer.from_file(str(base_model_dir() / "tokenizer.json"))
        tok.no_padding()
        tok.no_truncation()

        def count(text: str) -> int:  # what the runtime's CrossEncoder.count_tokens gives
            return len(tok.encode(text, add_special_tokens=False).ids)

        files = DataFiles(s.data_dir)
        strict, train_dir = s.mode != "smoke", s.data_dir / "train"
        nli = load_nli(files, train_dir, limit=s.rows_limit, require=strict)
        groups = load_docs(
            files, train_dir, n_docs=s.n_docs, seed=s.cfg.seed, limit=s.rows_limit, require=strict
        )
        syn = synthetic_pairs(
            groups,
            seed=s.cfg.seed,
            count_tokens=count,
            max_tokens=WINDOW_TOKENS,
            windows_per_doc=s.windows_per_doc,
        )
        if not nli and not syn:
            raise SystemExit(f"no training pairs: no NLI or HaluEval files in {show(train_dir)}")
        nli_tr, nli_ho = split_holdout(nli, s.holdout_frac, s.cfg.seed)
        syn_tr, syn_ho = split_holdout(syn, s.holdout_frac, s.cfg.seed)
        held = nli_ho + syn_ho or (nli_tr + syn_tr)[-4:]  # a handful of rows (smoke): reuse
        write_jsonl(self.path("pool_nli.jsonl"), to_rows(nli_tr))
        write_jsonl(self.path("pool_synthetic.jsonl"), to_rows(syn_tr))
        write_jsonl(self.path("holdout.jsonl"), to_rows(held))
        return {"data": files.summary(), "pool": counts(nli_tr + syn_tr), "holdout": counts(held)}

    def step_plan(self) -> dict[str, Any]:
        s, cfg = self.s, self.s.cfg
        nli, syn = self.pairs_file("pool_nli.jsonl"), self.pairs_file("pool_synthetic.jsonl")
        held = self.pairs_file("holdout.jsonl")
        random.Random(cfg.seed).shuffle(held)
        selection = held[: s.selection_n]  # model selection; the rest: the held-out report
        holdout_eval = (held[s.selection_n :] or held)[: s.holdout_eval_n]
        model, tok = self.model()
        info: dict[str, Any] = {"mode": s.mode}
        if s.train_pairs is not None:
            total = s.train_pairs
        elif s.mode == "full":
            total = round(len(nli) / s.nli_share) if nli else len(syn)
        elif s.mode == "smoke":
            total = min(16, len(nli) + len(syn))
        else:
            speed = probe(model, tok, nli + syn, cfg)
            total, estimate = self._size(nli, syn, selection, holdout_eval, speed, tok)
            info.update(probe=speed, estimate=estimate)
        chosen = compose(nli, syn, total, s.nli_share, cfg.seed)
        lengths = token_lengths(tok, chosen, cfg.max_length)
        batches = self._batches(lengths, s.epochs)[: 1 if s.mode == "smoke" else None]
        write_jsonl(self.path("train.jsonl"), to_rows(chosen))
        write_jsonl(self.path("selection.jsonl"), to_rows(selection))
        write_jsonl(self.path("holdout_eval.jsonl"), to_rows(holdout_eval))
        write_json(self.path("batches.json"), batches)
        info.update(
            train=counts(chosen),
            selection=counts(selection),
            holdout_eval=counts(holdout_eval),
            epochs=s.epochs,
            steps=len(batches),
            mean_tokens=round(float(np.mean(lengths)), 1) if lengths else 0.0,
        )
        LOG.info(
            "plan: %d training pairs %s, %d steps of %d, %d epoch(s)",
            len(chosen),
            info["train"]["by_label"],
            len(batches),
            cfg.batch_size,
            s.epochs,
        )
        for source, by_label in info["train"]["by_source_and_label"].items():
            LOG.info("plan:   %-36s %s", source, by_label)
        return info

    def _batches(self, lengths: Sequence[int], epochs: int) -> list[list[int]]:
        """Length-bucketed batches per epoch; each epoch after the first reshuffles."""
        seed, out = self.s.cfg.seed, []
        for epoch in range(epochs):
            order = list(range(len(lengths)))
            if epoch:
                random.Random(seed + epoch).shuffle(order)
            chunked = batches_by_length(
                [lengths[i] for i in order], self.s.cfg.batch_size, seed + epoch
            )
            out.extend([order[j] for j in b] for b in chunked)
        return out

    def _size(
        self,
        nli: list[Pair],
        syn: list[Pair],
        selection: list[Pair],
        holdout_eval: list[Pair],
        speed: dict[str, float],
        tok: Any,
    ) -> tuple[int, dict[str, Any]]:
        """The largest pair count whose estimated training time fits what the budget
        leaves after everything else (selection evaluations, export, quantization, the
        final evaluation of two ONNX models, install) and a margin."""
        s, cfg = self.s, self.s.cfg
        budget = s.budget_s if s.budget_s is not None else float("inf")
        ml = cfg.max_length
        pool = nli + syn
        length = dict(zip(map(id, pool), token_lengths(tok, pool, ml), strict=True))
        infer = speed["infer_sec_per_token"] * 1.15  # padding in length-sorted batches
        eval_tokens = sum(token_lengths(tok, self.anli() + holdout_eval, ml))
        reserve = {
            "selection_evals": cfg.evals * sum(token_lengths(tok, selection, ml)) * infer,
            "final_eval_fp32_and_int8": 2.0 * eval_tokens * infer,
            "parity_and_loads": s.parity_n * 3 * 150 * infer + 60.0,
            "export_quantize_install": 90.0,
            "margin": max(120.0, 0.05 * budget),
        }
        train_budget = budget - self.clock.elapsed() - sum(reserve.values())

        def seconds(total: int) -> float:
            lens = [length[id(p)] for p in compose(nli, syn, total, s.nli_share, cfg.seed)]
            batches = self._batches(lens, s.epochs)
            padded = sum(len(b) * max(lens[i] for i in b) for b in batches)
            step = speed["step_overhead_s"] * len(batches)
            return (step + padded * speed["train_sec_per_token"]) * SAFETY

        lo, hi = cfg.batch_size, len(pool)
        if seconds(hi) <= train_budget:
            lo = hi
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if seconds(mid) <= train_budget else (lo, mid - 1)
        est = seconds(lo)
        end = time.time() + budget - self.clock.elapsed()
        LOG.info(
            "sizing: %.1f min left for training -> %d pairs (estimated %.1f min); reserved "
            "%.1f min for the rest; the stage should end by %s",
            train_budget / 60,
            lo,
            est / 60,
            sum(reserve.values()) / 60,
            time.strftime("%H:%M", time.localtime(end)),
        )
        return lo, {
            "train_budget_s": round(train_budget),
            "estimated_train_s": round(est),
            "reserve_s": {k: round(v) for k, v in reserve.items()},
            "stage_deadline": time.strftime("%Y-%m-%d %H:%M", time.localtime(end)),
        }

    def step_train(self) -> dict[str, Any]:
        s = self.s
        model, tok = self.model()
        reserve = sum(self.steps.get("plan").get("estimate", {}).get("reserve_s", {}).values())
        deadline = s.budget_s - reserve + 60 if s.budget_s is not None else None
        return train(
            model,
            tok,
            self.pairs_file("train.jsonl"),
            read_json(self.path("batches.json")),
            self.pairs_file("selection.jsonl"),
            s.cfg,
            s.work_dir,
            self.clock,
            deadline,
        )

    def step_export(self) -> dict[str, Any]:
        return nli_finish.export(self)

    def step_quantize(self) -> dict[str, Any]:
        return nli_finish.quantize(self)

    def step_evaluate(self) -> dict[str, Any]:
        return nli_finish.evaluate(self)

    def step_install(self) -> dict[str, Any]:
        return nli_finish.install(self)
