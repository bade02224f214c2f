"""Downstream evaluations the papers report: ``python -m train eval --checkpoint RUN --task NAME ...``
prints one JSON object. Each task reads local files the user gives (an annotation file or a dataset
folder, and the videos) and follows its paper's protocol; ``--help`` lists them. Torch-free: the
registry is read by the command line before torch is imported.

A task is ``run(em, args) -> dict`` (``em``: the checkpoint's ``train.eval.EvalModel``; ``args``: the
parsed ``eval`` options). Tasks that train (fine-tuning, linear probes) write into ``--run-dir``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    name: str
    paper: str  # the paper whose protocol the task follows
    run: str  # "module:function": (EvalModel, args) -> dict
    needs: tuple  # eval options the task requires
    help: str


TASKS = {
    task.name: task
    for task in (
        Task(
            "zero-shot-classification",
            "VidLA (arXiv:2403.14870) appendix D",
            "train.zeroshot:run_task",
            ("annotations", "videos"),
            "Kinetics-400 zero-shot top-1/top-5 through CLIP's prompt templates (--templates to change them); "
            "--annotations: Kinetics' csv or a video,label file",
        ),
        Task(
            "multiple-choice",
            "VidLA appendix C; E-ViLM (arXiv:2311.17267) table 4",
            "train.eval:run_multiple_choice",
            ("annotations", "videos"),
            "zero-shot multiple choice (MSR-VTT MC): the option closest to the video (a fusion model: the "
            "highest matching score); --annotations: MSR_MC_test.csv or JSON lines",
        ),
        Task(
            "long-video-retrieval",
            "A Simple Recipe ... Beyond 16 Frames (arXiv:2312.07395) section 6",
            "train.families.longvideo.evaluate:run",
            ("benchmark", "annotations", "videos"),
            "zero-shot text-to-video retrieval on whole videos at 1 FPS, 128 frames (--num-frames 256: the "
            "L-size protocol); --benchmark activitynet (paragraphs) or any retrieval benchmark",
        ),
        Task(
            "action-linear-probe",
            "VIMPAC (arXiv:2106.11250); E-ViLM table 3",
            "train.families.vimpac.downstream:linear_probe",
            ("layout", "annotations", "train_annotations", "videos"),
            "action classification by a linear classifier on the frozen [CLS] features; --layout ucf101, "
            "hmdb51, ssv2 or kinetics400",
        ),
        Task(
            "action-finetune",
            "VIMPAC section 4.2, table 11",
            "train.families.vimpac.downstream:finetune",
            ("layout", "annotations", "train_annotations", "videos", "run_dir"),
            "action classification by fine-tuning with a zero-initialised FC on [CLS] at T=10, S=256, "
            "30-view test; --layout ucf101, hmdb51, ssv2 or kinetics400",
        ),
        Task(
            "video-qa",
            "E-ViLM section 4, table 1",
            "train.families.evilm.downstream:video_qa",
            ("annotations", "train_annotations", "videos", "run_dir"),
            "open-ended video question answering (MSRVTT-QA, MSVD-QA layout): fine-tuning with an answer "
            "vocabulary head on the fused [CLS]",
        ),
        Task(
            "retrieval-finetune",
            "HD-VILA (arXiv:2111.10337) section 5.3",
            "train.families.hdvila.downstream:retrieval_finetune",
            ("benchmark", "annotations", "train_annotations", "videos", "run_dir"),
            "text-to-video retrieval after fine-tuning the stage-1 model on the benchmark's training split "
            "(lr 5e-6, multi-step decay), evaluated with twice the segments",
        ),
    )
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; tasks: {sorted(TASKS)}")
    return TASKS[name]


def unsupported(name: str, family) -> str:
    """The error for ``--task name`` on a model of ``family`` (a train.registry.Family)."""
    from train.registry import families

    others = sorted(f.name for f in families().values() if f.supports(name))
    return (
        f"--task {name} does not evaluate a {family.name} model (it evaluates {', '.join(others) or 'none'}); "
        f"the tasks of {family.name}: {', '.join(family.tasks) or 'none'}"
    )


def describe() -> str:
    """The tasks for ``--help``."""
    return "\n".join(f"  {t.name}: {t.help} [{t.paper}]" for t in TASKS.values())


def run_task(name: str, args) -> dict:
    """Load the checkpoint, check the task's options, run it; the result names the task."""
    from train.eval import load_eval_model
    from train.registry import load

    task = get_task(name)
    missing = [f"--{option.replace('_', '-')}" for option in task.needs if not getattr(args, option, None)]
    if missing:
        raise ValueError(f"--task {name} needs {' '.join(missing)}")
    em = load_eval_model(args.checkpoint, args.tokenizer, config=getattr(args, "config", None))
    if not em.family.supports(name):
        raise ValueError(unsupported(name, em.family))
    result = load(task.run)(em, args)
    return {**result, "task": name, "protocol": task.paper}
