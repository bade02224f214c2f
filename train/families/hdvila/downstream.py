"""HD-VILA's text-to-video retrieval fine-tuning (arXiv:2111.10337, section 5.3): ``--task
retrieval-finetune``. "We adopt stage one model and the same training methods and objective for
fine-tuning": the stage-1 checkpoint is trained on the benchmark's training split (written once as
shards in ``RUN_DIR/benchmark``, as ``fit --dataset`` does) with the contrastive objective, the
multi-modal part frozen, lr 5e-6 with a multi-step decay (x0.1 at half and at three quarters of the
steps: the paper gives no milestones), for 100 epochs ("100 epochs at most"; the paper keeps the best on
a validation set, this task the last, as the paper does where there is none). The number of segments
covers about half of the average training video ("about 6 s" for two segments: 3 s each); evaluation
doubles it. HR frames are decoded at 720p (the checkpoint's size where it sets one), LR at a quarter.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

EPOCHS, LR = 100, 5e-6
SEGMENT_SECONDS = 3.0  # section 5.1: "the two segments can cover about 6s video content"


def segments_for(durations) -> int:
    """Segments that cover about half of the average video."""
    known = [d for d in durations if d]
    average = sum(known) / len(known) if known else 2 * SEGMENT_SECONDS
    return max(1, round(average / 2 / SEGMENT_SECONDS))


def retrieval_finetune(em, args) -> dict:
    import dataclasses

    from train import checkpoint as ckpt
    from train import datasets
    from train.config import TrainConfig
    from train.data.decode import DecodeError, video_duration
    from train.eval import evaluate_retrieval_set, load_eval_model
    from train.families.hdvila import STAGE2_PARAMETERS
    from train.finetune import prepare_benchmark
    from train.fit import fit

    if em.family.name != "hdvila":
        raise ValueError(
            f"--task retrieval-finetune fine-tunes an HD-VILA (hdvila) stage-1 model, not {em.family.name}"
        )
    paragraph = (
        args.mode or ("paragraph" if args.benchmark in datasets.PARAGRAPH_BY_DEFAULT else "clip")
    ) == "paragraph"
    kwargs = {"split": args.split} if args.benchmark == "msvd" else {}
    train_data = datasets.LOADERS[args.benchmark](args.train_annotations, args.videos, paragraph=paragraph, **kwargs)
    test_data = datasets.LOADERS[args.benchmark](args.annotations, args.videos, paragraph=paragraph, **kwargs)

    def duration(path):
        try:
            return video_duration(path)
        except DecodeError:
            return None

    segments = segments_for([duration(p) for p in train_data.video_paths])
    run_dir = Path(args.run_dir)
    shards = prepare_benchmark(run_dir, args.benchmark, args.train_annotations, args.videos, args.mode, args.split)
    source = ckpt.load_checkpoint(args.checkpoint)
    pretrained = TrainConfig.from_dict(source["config"])
    epochs, lr = args.epochs or EPOCHS, args.lr or LR
    clips_per_step = pretrained.batch_size * pretrained.grad_accum * int(os.environ.get("WORLD_SIZE", "1"))
    steps = max(1, math.ceil(epochs * len(train_data.video_ids) / clips_per_step))
    cfg = pretrained.replace(
        init_from=str(args.checkpoint),  # a tokenizer learnt by the stage-1 run comes with it (train.fit)
        steps=steps,
        lr=lr,
        min_lr=0.0,
        warmup_steps=0,
        lr_schedule="step",
        schedule_steps=0,
        schedule_offset=0,
        freeze=STAGE2_PARAMETERS,
        loss_weights={"contrastive": 1.0, "mlm": 0.0},
        model_overrides={**pretrained.model_overrides, "num_segments": segments},
        decode_short_side=pretrained.decode_short_side or 720,
        checkpoint_every=steps,
    )
    summary = fit(cfg, str(shards), run_dir / "finetune", progress=False)
    tuned = load_eval_model(run_dir / "finetune")
    tuned = dataclasses.replace(tuned, model_config=tuned.model_config.replace(num_segments=2 * segments))
    result = evaluate_retrieval_set(tuned, test_data, args.dsl, args.batch_size, args.num_workers)
    return {
        **result,
        "mode": "paragraph" if paragraph else "clip",
        "train_segments": segments,
        "eval_segments": 2 * segments,
        "steps": steps,
        "epochs": epochs,
        "lr": lr,
        "lr_schedule": "step",
        "train_videos": len(train_data.video_ids),
        "final_loss": summary["loss"],
        "finetuned_checkpoint": summary["checkpoint"],
    }
