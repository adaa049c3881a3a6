#!/usr/bin/env python3
"""Build the shipped grounding models, reproducibly, from the installed base weights.

::

    python scripts/build_models.py embed            # detectors/models/embed-minilm-l6 (minutes)
    python scripts/build_models.py nli              # detectors/models/nli-minilm-l6 (<= 75 min, CPU)
    python scripts/build_models.py nli --full       # all data, 2 epochs, CUDA when available
    python scripts/build_models.py nli --smoke --data-dir DIR   # seconds, into a temp dir

Stages run as steps (``embed``: export, quantize, evaluate, install; ``nli``: pairs,
plan, train, export, quantize, evaluate, install). Each finished step is recorded in
``<work-dir>/state.json`` (default ``build/model-build/<stage>``, git-ignored) and
training checkpoints every few minutes, so rerunning the same command after an
interruption resumes where it stopped. ``--redo STEP`` reruns STEP and what follows;
``--fresh`` starts over. Progress goes to stdout and ``<work-dir>/build.log`` with
timestamps. Everything loads offline (``HF_HUB_OFFLINE=1``); seeds are fixed; every data
file read is recorded with its sha256 in the model card.

The default ``nli`` run sizes its training set from a throughput probe so that the whole
stage, export and evaluation included, ends within ``--budget-minutes`` (75); the pair
count it chose is in the card (``--train-pairs N`` reproduces it exactly elsewhere).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file: make `scripts`, `detectors` importable
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from scripts.buildlib import (  # noqa: E402
    DEFAULT_DATA_DIR,
    DEFAULT_WORK_DIR,
    LOG,
    MODELS_DIR,
    Clock,
    Steps,
    set_seed,
    setup_logging,
    show,
)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="folder with train/ and dev/ (default: ../shared/data from the repo root)",
    )
    common.add_argument(
        "--out",
        type=Path,
        help="model directory to write (default: detectors/models/<name>; "
        "--smoke: a temporary directory)",
    )
    common.add_argument(
        "--work-dir",
        type=Path,
        help="steps, checkpoints, logs (default: build/model-build/<stage>)",
    )
    common.add_argument("--log-file", type=Path, help="default: <work-dir>/build.log")
    common.add_argument("--seed", type=int, default=0)
    common.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="torch CPU threads"
    )
    mode = common.add_mutually_exclusive_group()
    mode.add_argument(
        "--smoke", action="store_true", help="a few rows, one step, tiny lengths: a test run"
    )
    mode.add_argument(
        "--full", action="store_true", help="all data and epochs, CUDA when available, no budget"
    )
    common.add_argument("--redo", metavar="STEP", help="rerun STEP and every step after it")
    common.add_argument(
        "--until", metavar="STEP", help="stop after STEP (rerun without it to go on)"
    )
    common.add_argument("--fresh", action="store_true", help="delete the work directory first")

    top = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = top.add_subparsers(dest="stage", required=True)
    embed = sub.add_parser("embed", parents=[common], help="ONNX int8 sentence embedder")
    embed.add_argument(
        "--sentences", type=int, help="dev response sentences for the agreement check (300)"
    )
    nli = sub.add_parser("nli", parents=[common], help="fine-tuned 3-label NLI cross-encoder")
    nli.add_argument(
        "--budget-minutes", type=float, default=75.0, help="whole default run, all steps"
    )
    nli.add_argument(
        "--train-pairs", type=int, help="training pairs (default: sized from the probe)"
    )
    nli.add_argument("--epochs", type=int, help="default 1; --full 2")
    nli.add_argument("--batch-size", type=int, help="default 16; --full 32")
    nli.add_argument("--lr", type=float, default=5e-5)
    nli.add_argument("--max-length", type=int, help="tokens per training pair (256)")
    nli.add_argument(
        "--nli-share", type=float, default=0.5, help="share of pairs from the NLI files"
    )
    nli.add_argument("--holdout-frac", type=float, default=0.05)
    nli.add_argument(
        "--docs", type=int, help="HaluEval contexts to draw synthetic pairs from (7000; --full all)"
    )
    nli.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    return top


_CONTROL = {"--redo": 1, "--until": 1, "--fresh": 0, "--log-file": 1}  # option: values


def _command(argv: list[str]) -> str:
    """The command line for the card: paths shown relative to the repository, and
    without the options that steer a run but not its result (``--redo``, ``--until``,
    ``--fresh``, ``--log-file``)."""
    kept: list[str] = []
    skip = 0
    for arg in argv:
        name = arg.split("=", 1)[0]
        if skip:
            skip -= 1
        elif name in _CONTROL:
            skip = _CONTROL[name] if "=" not in arg else 0
        else:
            kept.append(show(arg) if os.path.isabs(arg) else arg)
    return " ".join(["python", "scripts/build_models.py", *kept])


def _settings(args: argparse.Namespace, work_dir: Path, out_dir: Path):  # type: ignore[no-untyped-def]
    mode = "smoke" if args.smoke else "full" if args.full else "default"
    if args.stage == "embed":
        from scripts.embed_stage import EmbedSettings

        sentences = args.sentences or {"smoke": 6, "default": 300, "full": 1000}[mode]
        return EmbedSettings(
            mode,
            args.data_dir,
            out_dir,
            work_dir,
            sentences,
            64 if mode == "smoke" else 256,
            args.seed,
        )
    import torch

    from scripts.nli_stage import Settings
    from scripts.nli_train import TrainConfig, pick_device

    smoke, full = mode == "smoke", mode == "full"
    device = "cpu" if smoke else pick_device(args.device)
    cfg = TrainConfig(
        batch_size=args.batch_size or (4 if smoke else 32 if full else 16),
        lr=args.lr,
        max_length=args.max_length or (32 if smoke else 256),
        seed=args.seed,
        device=device,
        evals=1 if smoke else 6,
        checkpoint_minutes=5.0,
    )
    torch.set_num_threads(max(1, args.threads))
    return Settings(
        mode=mode,
        data_dir=args.data_dir,
        out_dir=out_dir,
        work_dir=work_dir,
        budget_s=None if smoke or full else args.budget_minutes * 60,
        rows_limit=8 if smoke else None,
        n_docs=args.docs or (6 if smoke else None if full else 7000),
        windows_per_doc=1 if smoke else 2,
        holdout_frac=args.holdout_frac,
        nli_share=args.nli_share,
        train_pairs=args.train_pairs,
        epochs=args.epochs or (2 if full else 1),
        selection_n=4 if smoke else 2000 if full else 600,
        holdout_eval_n=4 if smoke else 5000 if full else 1500,
        anli_n=6 if smoke else None,
        parity_n=4 if smoke else 64,
        cfg=cfg,
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    clock = Clock()
    name = "embed-minilm-l6" if args.stage == "embed" else "nli-minilm-l6"
    suffix = "-smoke" if args.smoke else "-full" if args.full else ""
    if args.smoke and (args.out is None or args.work_dir is None):
        tmp = Path(tempfile.mkdtemp(prefix=f"build-{args.stage}-smoke-"))
        args.out = args.out or tmp / name
        args.work_dir = args.work_dir or tmp / "work"
    work_dir = (args.work_dir or DEFAULT_WORK_DIR / f"{args.stage}{suffix}").resolve()
    out_dir = (args.out or MODELS_DIR / name).resolve()
    if args.fresh and work_dir.exists():
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    setup_logging(args.log_file or work_dir / "build.log")
    LOG.info("%s", _command(argv))
    LOG.info(
        "stage %s: work dir %s, output %s, data %s",
        args.stage,
        show(work_dir),
        show(out_dir),
        show(args.data_dir),
    )
    set_seed(args.seed)
    settings = _settings(args, work_dir, out_dir)
    fingerprint = {
        k: str(v) for k, v in asdict(settings).items() if k not in ("work_dir", "out_dir")
    }
    steps = Steps(work_dir)
    if steps.state.get("_settings", fingerprint) != fingerprint:
        LOG.error(
            "%s holds a run with other settings: %s", show(work_dir), steps.state["_settings"]
        )
        raise SystemExit("use the same options, another --work-dir, or --fresh")
    steps.mark("_settings", fingerprint)
    if args.stage == "embed":
        from scripts.embed_stage import STEPS, EmbedStage

        stage = EmbedStage(settings, _command(argv))
    else:
        from scripts.nli_stage import STEPS, NLIStage  # type: ignore[assignment]

        stage = NLIStage(settings, clock, _command(argv))  # type: ignore[assignment]
    for step in (args.redo, args.until):
        if step is not None and step not in STEPS:
            raise SystemExit(
                f"unknown step {step!r}; the {args.stage} steps are {', '.join(STEPS)}"
            )
    if args.redo:
        stage.steps.redo_from(args.redo, STEPS)
    stage.run(args.until)
    if args.until:
        LOG.info("stopped after step %s (--until); rerun without --until to go on", args.until)
        return 0
    LOG.info("stage %s finished in %.1f min: %s", args.stage, clock.elapsed() / 60, show(out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
