"""Fine-tuning the 3-label cross-encoder: model loading, a throughput probe, a plain
PyTorch training loop over ``sentence_transformers.CrossEncoder(...).model`` (no
``datasets`` / ``accelerate`` needed) with resumable checkpoints and best-model
selection on a held-out set, and batched PyTorch prediction.
"""

from __future__ import annotations

import copy
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scripts.buildlib import LOG, Clock, base_model_dir
from scripts.metrics import nli_metrics
from scripts.nli_data import batches_by_length
from scripts.pairgen import LABELS, Pair


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 16
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    max_length: int = 256
    evals: int = 6  # selection evaluations over the run
    patience: int = 3  # evaluations without improvement before stopping
    checkpoint_minutes: float = 5.0
    seed: int = 0
    device: str = "cpu"


def pick_device(choice: str) -> str:
    if choice == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device")
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return choice


def load_model(max_length: int, seed: int, device: str) -> tuple[Any, Any]:
    """all-MiniLM-L6-v2 with a fresh 3-way head (seeded), and its fast tokenizer."""
    from sentence_transformers import CrossEncoder

    torch.manual_seed(seed)
    ce = CrossEncoder(
        str(base_model_dir()),
        num_labels=len(LABELS),
        max_length=max_length,
        device=device,
        local_files_only=True,
    )
    model, tok = ce.model, ce.tokenizer
    model.config.id2label = dict(enumerate(LABELS))
    model.config.label2id = {label: i for i, label in enumerate(LABELS)}
    return model, tok


def encode(tok: Any, pairs: Sequence[Pair], max_length: int, device: str) -> dict[str, Any]:
    enc = tok(
        [p.premise for p in pairs],
        [p.hypothesis for p in pairs],
        truncation="longest_first",
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )
    if "token_type_ids" not in enc:
        enc["token_type_ids"] = torch.zeros_like(enc["input_ids"])
    return {k: enc[k].to(device) for k in ("input_ids", "attention_mask", "token_type_ids")}


def token_lengths(tok: Any, pairs: Sequence[Pair], max_length: int) -> list[int]:
    """Tokens per pair as the model sees it (special tokens included, truncated)."""
    out: list[int] = []
    for start in range(0, len(pairs), 2048):
        chunk = pairs[start : start + 2048]
        enc = tok(
            [p.premise for p in chunk],
            [p.hypothesis for p in chunk],
            truncation="longest_first",
            max_length=max_length,
        )
        out.extend(len(ids) for ids in enc["input_ids"])
    return out


@torch.no_grad()
def predict(
    model: Any, tok: Any, pairs: Sequence[Pair], max_length: int, device: str, batch_size: int = 64
) -> np.ndarray:
    """Softmax probabilities [n, 3] in input order (batches sorted by length)."""
    was_training = model.training
    model.eval()
    order = sorted(
        range(len(pairs)), key=lambda i: len(pairs[i].premise) + len(pairs[i].hypothesis)
    )
    probs = np.zeros((len(pairs), len(LABELS)), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        logits = model(**encode(tok, [pairs[i] for i in rows], max_length, device)).logits
        probs[rows] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    model.train(was_training)
    return probs


def _optimizer(model: Any, cfg: TrainConfig, total_steps: int) -> tuple[Any, Any]:
    from transformers import get_linear_schedule_with_warmup

    no_decay = ("bias", "LayerNorm.weight", "LayerNorm.bias")
    groups = [
        {
            "params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
            "weight_decay": cfg.weight_decay,
        },
        {
            "params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)],
            "weight_decay": 0.0,
        },
    ]
    opt = torch.optim.AdamW(groups, lr=cfg.lr)
    sched = get_linear_schedule_with_warmup(opt, int(cfg.warmup_ratio * total_steps), total_steps)
    return opt, sched


def _step(model: Any, opt: Any, tok: Any, pairs: Sequence[Pair], cfg: TrainConfig) -> float:
    labels = torch.tensor([LABELS.index(p.label) for p in pairs], device=cfg.device)
    logits = model(**encode(tok, pairs, cfg.max_length, cfg.device)).logits
    loss = torch.nn.functional.cross_entropy(logits, labels)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
    opt.step()
    return float(loss.item())


def probe(
    model: Any, tok: Any, pairs: Sequence[Pair], cfg: TrainConfig, n_batches: int = 8
) -> dict[str, float]:
    """Training-step time as ``step_overhead_s + train_sec_per_token * padded tokens``
    (least squares over ``n_batches`` steps of batches ranging from short to long, built
    like the training ones, each timed after a warm-up pass), and inference speed;
    measured on a copy of the model, so the real one is untouched."""
    rng = random.Random(cfg.seed)
    sample = rng.sample(list(pairs), min(len(pairs), cfg.batch_size * n_batches))
    lengths = token_lengths(tok, sample, cfg.max_length)
    batches = batches_by_length(lengths, cfg.batch_size, cfg.seed)
    twin = copy.deepcopy(model).train()
    opt, _ = _optimizer(twin, cfg, 100)
    # Pass 0 is untimed: the first step of each new padded length builds and caches CPU
    # kernels for that shape, a cost a long run pays once per length, not per step.
    # Passes 1 and 2 are timed; the faster of the two counts per batch, so a moment of
    # contention on a shared machine does not size the whole run (the training loop's
    # deadline covers a machine that stays slow).
    seconds = np.full((3, len(batches)), np.inf)
    for run in range(3):
        for b, batch in enumerate(batches):
            t0 = time.perf_counter()
            _step(twin, opt, tok, [sample[j] for j in batch], cfg)
            seconds[run, b] = time.perf_counter() - t0
    times = seconds[1:].min(axis=0).tolist()
    tokens = [len(b) * max(lengths[j] for j in b) for b in batches]
    x, y = np.array(tokens), np.array(times)
    per_token, overhead = np.polyfit(x, y, 1) if len(x) > 2 and x.std() > 0 else (0.0, 0.0)
    if overhead < 0 or per_token <= 0:
        per_token, overhead = float(y.sum() / max(x.sum(), 1.0)), 0.0
    twin.eval()
    infer = sample[:128]
    t0 = time.perf_counter()
    predict(twin, tok, infer, cfg.max_length, cfg.device)
    infer_s = time.perf_counter() - t0
    infer_tokens = sum(token_lengths(tok, infer, cfg.max_length))
    del twin, opt
    out = {
        "step_overhead_s": float(overhead),
        "train_sec_per_token": float(per_token),
        "train_pairs_per_s": float(sum(len(b) for b in batches) / max(y.sum(), 1e-9)),
        "infer_sec_per_token": infer_s / max(infer_tokens, 1),
        "infer_pairs_per_s": len(infer) / max(infer_s, 1e-9),
        "mean_tokens": float(np.mean(lengths)),
    }
    LOG.info(
        "probe: %.1f training pairs/s (a step: %.0f ms + %.0f ms per 1k padded tokens), "
        "%.1f inference pairs/s, %.0f tokens per pair",
        out["train_pairs_per_s"],
        overhead * 1e3,
        per_token * 1e6,
        out["infer_pairs_per_s"],
        out["mean_tokens"],
    )
    return out


def _save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(
    model: Any,
    tok: Any,
    pairs: Sequence[Pair],
    batches: Sequence[Sequence[int]],
    selection: Sequence[Pair],
    cfg: TrainConfig,
    work_dir: Path,
    clock: Clock,
    deadline_s: float | None,
) -> dict[str, Any]:
    """Train over ``batches`` (indices into ``pairs``), evaluating on ``selection``
    ``cfg.evals`` times and keeping the best weights in ``best_model.pt``. Resumes from
    ``train_ckpt.pt``; stops early after ``cfg.patience`` evaluations without a gain, or
    at ``deadline_s`` seconds on ``clock``."""
    total = len(batches)
    ckpt_path, best_path = work_dir / "train_ckpt.pt", work_dir / "best_model.pt"
    opt, sched = _optimizer(model, cfg, total)
    state: dict[str, Any] = {
        "step": 0,
        "best": -1.0,
        "best_step": 0,
        "bad": 0,
        "history": [],
        "losses": [],
        "stopped": None,
        "seconds": 0.0,
    }
    if ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location=cfg.device, weights_only=False)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        state = ckpt["state"]
        torch.set_rng_state(ckpt["torch_rng"])
        LOG.info(
            "resumed training at step %d/%d (best selection accuracy %.4f)",
            state["step"],
            total,
            state["best"],
        )
    else:
        torch.manual_seed(cfg.seed)
    eval_every = max(1, total // max(1, cfg.evals))
    model.train()
    last_ckpt = time.monotonic()
    t_run, step_at_start = time.monotonic(), state["step"]

    def checkpoint() -> None:
        _save(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "state": state,
                "torch_rng": torch.get_rng_state(),
            },
            ckpt_path,
        )

    while state["step"] < total and state["stopped"] is None:
        step = state["step"]
        batch = [pairs[i] for i in batches[step]]
        state["losses"].append(_step(model, opt, tok, batch, cfg))
        sched.step()
        state["step"] = step = step + 1
        if step % 20 == 0 or step == total:
            rate = (step - step_at_start) / max(time.monotonic() - t_run, 1e-9)
            eta = (total - step) / max(rate, 1e-9)
            recent = state["losses"][-20:]
            LOG.info(
                "train step %d/%d (%.1f%%) loss %.4f | %.2f steps/s | ETA %.1f min (%s)",
                step,
                total,
                100 * step / total,
                sum(recent) / len(recent),
                rate,
                eta / 60,
                time.strftime("%H:%M", time.localtime(time.time() + eta)),
            )
        if step % eval_every == 0 or step == total:
            metrics = nli_metrics(
                predict(model, tok, selection, cfg.max_length, cfg.device),
                [p.label for p in selection],
            )
            state["history"].append({"step": step, **metrics})
            LOG.info(
                "selection @%d: accuracy %.4f, entailment AUC %s",
                step,
                metrics["accuracy"],
                metrics["entailment_auc"],
            )
            if metrics["accuracy"] > state["best"]:
                state.update(best=metrics["accuracy"], best_step=step, bad=0)
                _save(model.state_dict(), best_path)
            else:
                state["bad"] += 1
                if state["bad"] >= cfg.patience:
                    state["stopped"] = f"early stop: no gain in {cfg.patience} evaluations"
        if deadline_s is not None and clock.elapsed() > deadline_s and step < total:
            state["stopped"] = f"time budget: stopped at step {step}/{total}"
        if state["stopped"] or time.monotonic() - last_ckpt > cfg.checkpoint_minutes * 60:
            state["seconds"] += time.monotonic() - last_ckpt
            last_ckpt = time.monotonic()
            checkpoint()
    if state["stopped"]:
        LOG.warning("training stopped: %s", state["stopped"])
    if not best_path.is_file():  # stopped before the first evaluation
        _save(model.state_dict(), best_path)
        state["best_step"] = state["step"]
    state["seconds"] += time.monotonic() - last_ckpt
    checkpoint()
    losses = state["losses"]
    return {
        "steps_planned": total,
        "steps_done": state["step"],
        "best_step": state["best_step"],
        "best_selection_accuracy": state["best"],
        "stopped": state["stopped"],
        "train_seconds": round(state["seconds"], 1),
        "history": state["history"],
        "loss_first_50": round(float(np.mean(losses[:50])), 4) if losses else None,
        "loss_last_50": round(float(np.mean(losses[-50:])), 4) if losses else None,
    }
