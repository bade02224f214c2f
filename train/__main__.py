"""``python -m train``: train a model family on curated shards (``fit``) and evaluate it (``eval``).

python -m train fit --config vidla-tiny-cpu --shards 'DIR/shards/{00000..00009}.tar' --output RUN [--steps 20 ...]
torchrun --nproc-per-node 8 -m train fit --config vidla-b32 --shards ... --output RUN clip_weights=CLIP_DIR
python -m train fit --config vidla-b32-finetune --dataset msrvtt --annotations A.csv --videos V --output FT
python -m train eval --checkpoint RUN --shards PATTERN [--dsl] [--mode paragraph]
python -m train eval --checkpoint RUN --dataset msrvtt --annotations MSRVTT_JSFUSION_test.csv --videos DIR
python -m train eval --checkpoint RUN --multiple-choice MSR_MC_test.csv --videos DIR
python -m train eval --checkpoint RUN --zero-shot kinetics400/validate.csv --videos DIR
python -m train eval --checkpoint RUN --task action-finetune --layout ucf101 --train-annotations ... (--help)
python -m curate hierarchical-testset DIR --output TESTSET
python -m train eval --checkpoint RUN --shards TESTSET --hierarchical
python -m train export --checkpoint RUN --output model.safetensors
"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def _presets_by_family() -> str:
    from train.registry import families

    header = (
        "training presets by model family (--config; a model preset alone trains with the family's default recipe):"
    )
    lines = [header]
    for family in families().values():
        aliases = ", ".join(f"{old} = {new}" for old, new in family.aliases.items())
        lines.append(
            f"  {family.name}: {', '.join(family.train_presets)}" + (f" (aliases: {aliases})" if aliases else "")
        )
        models = [m for m in family.model_presets if m not in family.train_presets]
        lines.append(f"    model presets: {', '.join(models)}")
    return "\n".join(lines)


def _add_fit(sub) -> None:
    p = sub.add_parser(
        "fit",
        allow_abbrev=False,
        help="train on WebDataset shards, or fine-tune on a retrieval benchmark",
        description="Train a model family of the registry (train/registry.py) on shards. Any TrainConfig "
        "field can be overridden after the options, as --field-name VALUE or field_name=VALUE (e.g. "
        "--steps 20 --batch-size 4 lr=1e-4 loss_weights=caption:0.5 freeze=text_model.*); model fields "
        "as model.FIELD=VALUE (e.g. model.tube_mask_ratio=0.5). init_from=CHECKPOINT starts from another "
        "run's weights (a second training stage). flip=false turns off the random horizontal flip of the "
        "training crops (on by default, as in the paper; a flip contradicts texts that say left or right).",
        epilog=_presets_by_family(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--config",
        required=True,
        help="training preset (listed below by family), or a model preset",
    )
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument(
        "--shards",
        help="shard pattern: brace expansion, '::'-joined patterns, a curation output folder, "
        "or URLs webdataset opens (pipe:, http(s)://, gs://)",
    )
    data.add_argument(
        "--dataset",
        choices=["msrvtt", "didemo", "activitynet", "msvd", "vatex"],
        help="fine-tune on a retrieval benchmark's training split (VidLA appendix A.2) given by "
        "--annotations "
        "and --videos (formats as for eval; written once as shards into RUN/benchmark); e.g. --config "
        "vidla-b32-finetune init_from=PRETRAIN_RUN (32 frames: a 12-frame checkpoint's temporal embedding is "
        "interpolated, its [MST] strides kept on the same moments)",
    )
    p.add_argument("--annotations", help="--dataset: the training split's annotation file")
    p.add_argument("--videos", help="--dataset: folder of the benchmark's videos")
    p.add_argument("--split", help="--dataset msvd: file of the clip names to train on")
    p.add_argument(
        "--mode",
        choices=["clip", "paragraph"],
        default=None,
        help="--dataset: paragraph = one text per video, all its sentences joined (default for didemo and "
        "activitynet: paragraph-to-video); clip = each caption a text, one drawn per video and epoch",
    )
    p.add_argument("--output", required=True, help="run folder: checkpoints, metrics.jsonl, tensorboard/")
    p.add_argument(
        "--resume",
        action="store_const",
        const="latest",
        default=None,
        help="continue exactly from the run folder's latest checkpoint (none yet: start at step 0); "
        "the run's saved config is used, only --steps may change",
    )
    p.add_argument("--resume-from", metavar="CHECKPOINT", help="continue exactly from this checkpoint file")
    p.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="leave after this many steps of this invocation, writing a checkpoint (time-limited jobs)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _tasks_epilog() -> str:
    from train.tasks import describe

    return "downstream tasks (--task NAME; train/tasks.py):\n" + describe()


def _add_eval(sub) -> None:
    p = sub.add_parser(
        "eval",
        allow_abbrev=False,
        help="retrieval (benchmarks, shards, hierarchical test set), multiple choice, zero-shot "
        "classification, the papers' downstream tasks (--task): one JSON object",
        description="Evaluate a checkpoint (pretrained, or fine-tuned with fit --dataset NAME) on shards, a "
        "retrieval benchmark, the hierarchical test set (--hierarchical), multiple choice, zero-shot "
        "classification (--zero-shot) or a downstream task of the papers (--task); prints one JSON object.",
        epilog=_tasks_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint file or run folder (its latest checkpoint)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--shards", help="shard pattern (as for fit): each clip is a video and a query")
    src.add_argument(
        "--dataset",
        choices=["msrvtt", "didemo", "activitynet", "msvd", "vatex"],
        help="a retrieval benchmark; needs --annotations and --videos",
    )
    src.add_argument(
        "--multiple-choice",
        metavar="FILE",
        help="zero-shot multiple choice (MSR_MC_test.csv or JSON lines); needs --videos",
    )
    src.add_argument(
        "--zero-shot",
        metavar="LABELS",
        help="zero-shot classification (VidLA appendix D): class names through prompt templates, top-1/top-5 "
        "accuracy; LABELS is Kinetics' csv (label,youtube_id,time_start,time_end) or a csv/tsv/jsonl with "
        "video,label columns; the classes are its labels; needs --videos (flat or a folder per label)",
    )
    src.add_argument("--task", help="a downstream task of the papers (listed below) with the options it needs")
    p.add_argument(
        "--templates",
        help="zero-shot: prompt templates, one a line with {} for the class name (default: CLIP's 28 "
        "Kinetics templates)",
    )
    p.add_argument(
        "--annotations",
        help="the benchmark's annotation file (see train/datasets.py); with --task, the split evaluated",
    )
    p.add_argument("--train-annotations", help="--task: the training split (fine-tuning, linear probes, QA)")
    p.add_argument(
        "--benchmark",
        choices=["msrvtt", "didemo", "activitynet", "msvd", "vatex"],
        help="--task: the retrieval benchmark whose annotation format --annotations is in",
    )
    p.add_argument(
        "--layout",
        choices=["ucf101", "hmdb51", "ssv2", "kinetics400"],
        help="--task: the action classification dataset's annotation layout",
    )
    p.add_argument("--run-dir", help="--task: folder for what a task trains (checkpoints, metrics)")
    p.add_argument("--num-frames", type=int, help="--task: frames per video (default: the task's protocol)")
    p.add_argument("--image-size", type=int, help="--task: frame side (default: the task's protocol)")
    p.add_argument("--epochs", type=float, help="--task: training epochs (default: the paper's)")
    p.add_argument("--lr", type=float, help="--task: peak learning rate (default: the paper's)")
    p.add_argument("--videos", help="folder of the benchmark's videos")
    p.add_argument(
        "--split",
        help="msvd: file of the clip names to keep (e.g. the test list); --task with "
        "--layout hmdb51: the split number (default 1)",
    )
    p.add_argument(
        "--mode",
        choices=["clip", "paragraph"],
        default=None,
        help="paragraph: one query per video, all its sentences joined (default for didemo and "
        "activitynet); clip: one query per text",
    )
    p.add_argument(
        "--text",
        choices=["subtitle", "caption"],
        default="subtitle",
        help="shards: which text is the query (subtitle = its summary where present)",
    )
    p.add_argument(
        "--hierarchical",
        action="store_true",
        help="with --shards OUT: OUT is a hierarchical test set (python -m curate hierarchical-testset, "
        "VidLA appendix H); reports text-to-video R@1 per scale (short, medium, long) as table 16",
    )
    p.add_argument("--dsl", action="store_true", help="also report metrics after dual softmax")
    p.add_argument("--tokenizer", help="tokenizer folder (default: the one the run saved)")
    p.add_argument(
        "--config",
        metavar="PRESET",
        help="the train preset the model was trained with, for a --checkpoint that does not carry it: a "
        "safetensors export (train export) or a state dict of weights alone (then also --tokenizer), or "
        "a checkpoint that records no model family",
    )
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--num-workers", type=int, default=0, help="video decoding processes")
    p.add_argument("--output", help="also write the JSON to this file")


def _add_export(sub) -> None:
    p = sub.add_parser(
        "export",
        allow_abbrev=False,
        help="a checkpoint's model weights as safetensors",
        description="Write the model weights of a checkpoint as one safetensors file (the family and the "
        "model config in its metadata); init_from= accepts it.",
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint file or run folder (its latest checkpoint)")
    p.add_argument("--output", required=True, help="the .safetensors file to write")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m train",
        allow_abbrev=False,
        description=__doc__.splitlines()[0],
        epilog="\n".join(__doc__.splitlines()[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_fit(sub)
    _add_eval(sub)
    _add_export(sub)
    return parser


def run_fit(args, overrides: list) -> int:
    from train.config import apply_overrides, get_preset, parse_overrides
    from train.fit import fit

    cfg = apply_overrides(get_preset(args.config), parse_overrides(overrides))
    shards = args.shards
    if args.dataset:
        from train.finetune import prepare_benchmark

        if not args.annotations or not args.videos:
            raise ValueError("--dataset needs --annotations and --videos")
        shards = str(prepare_benchmark(args.output, args.dataset, args.annotations, args.videos, args.mode, args.split))
    summary = fit(
        cfg,
        shards,
        args.output,
        resume=args.resume_from or args.resume,
        stop_after=args.stop_after,
        progress=not args.no_progress,
    )
    print(json.dumps(summary))
    return 0


def run_eval(args) -> int:
    from train import datasets
    from train.eval import (
        evaluate_hierarchical,
        evaluate_multiple_choice,
        evaluate_retrieval_set,
        evaluate_shards,
        load_eval_model,
    )

    if args.hierarchical and not args.shards:
        raise ValueError("--hierarchical needs --shards OUT (a folder written by curate hierarchical-testset)")
    if (args.dataset or args.multiple_choice or args.zero_shot) and not args.videos:
        raise ValueError("--dataset, --multiple-choice and --zero-shot need --videos")
    if args.dataset and not args.annotations:
        raise ValueError("--dataset needs --annotations")
    if args.task:
        from train.tasks import run_task

        return _print_result(run_task(args.task, args), args)
    em = load_eval_model(args.checkpoint, args.tokenizer, config=args.config)
    if args.hierarchical:
        result = evaluate_hierarchical(em, args.shards, args.text, args.dsl, args.batch_size, args.num_workers)
    elif args.shards:
        result = evaluate_shards(
            em, args.shards, args.mode or "clip", args.text, args.dsl, args.batch_size, args.num_workers
        )
    elif args.dataset:
        paragraph = (
            args.mode or ("paragraph" if args.dataset in datasets.PARAGRAPH_BY_DEFAULT else "clip")
        ) == "paragraph"
        kwargs = {"split": args.split} if args.dataset == "msvd" else {}
        data = datasets.LOADERS[args.dataset](args.annotations, args.videos, paragraph=paragraph, **kwargs)
        result = evaluate_retrieval_set(em, data, args.dsl, args.batch_size, args.num_workers)
        result["mode"] = "paragraph" if paragraph else "clip"
    elif args.zero_shot:
        from train.zeroshot import evaluate_zero_shot, read_templates

        templates = read_templates(args.templates)
        data = datasets.load_classification(args.zero_shot, args.videos)
        result = evaluate_zero_shot(em, data, templates, args.batch_size, args.num_workers)
    else:
        data = datasets.load_multiple_choice(args.multiple_choice, args.videos)
        result = evaluate_multiple_choice(em, data, args.batch_size, args.num_workers)
    return _print_result(result, args)


def _print_result(result: dict, args) -> int:
    result["checkpoint"] = str(args.checkpoint)
    text = json.dumps(result)
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "fit":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "fit":
            return run_fit(args, extra)
        if args.command == "export":
            from train.checkpoint import export_safetensors

            print(json.dumps({"output": str(export_safetensors(args.checkpoint, args.output))}))
            return 0
        return run_eval(args)
    except ValueError as exc:  # what the user got wrong: one clear line, no traceback
        print(f"python -m train {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
