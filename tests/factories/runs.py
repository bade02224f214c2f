"""Runs: a real curated vidla run, tiny training runs, the pipeline's resume join, and a command's
peak memory."""

from __future__ import annotations

import json
import os
from typing import NamedTuple


def resume_sets(out_dir: str, video_ids=(), *, retry_failed: bool = False) -> tuple:
    """(which of `video_ids` a run over `out_dir` would skip, {video_id: ShardEntry} staged by earlier
    runs), from the pipeline's own resume join (curate.beam.resume.Resume) on the DirectRunner."""
    import pickle
    import tempfile

    import apache_beam as beam

    from curate.beam.resume import Resume
    from curate.output.resume import load_resume_state
    from schemas import VideoMeta

    state = load_resume_state(out_dir, retry_failed=retry_failed)
    with tempfile.TemporaryDirectory() as tmp:
        with beam.Pipeline() as p:
            videos = p | beam.Create([VideoMeta(v, "") for v in video_ids] or [VideoMeta("-", "")])
            todo, staged, _ = videos | Resume(out_dir, state)
            todo = todo | beam.Map(lambda meta: meta.video_id)
            for name, pcoll in (("todo", todo), ("staged", staged)):
                _ = (
                    pcoll
                    | f"All{name}" >> beam.combiners.ToList()
                    | f"Dump{name}"
                    >> beam.Map(lambda items, path: pickle.dump(items, open(path, "wb")), os.path.join(tmp, name))
                )
        todo = set(pickle.load(open(os.path.join(tmp, "todo"), "rb")))
        staged = {e.video_id: e for e in pickle.load(open(os.path.join(tmp, "staged"), "rb"))}
    return set(video_ids) - todo, staged


class CuratedRun(NamedTuple):
    """A real ``curate run --recipe vidla``: its input folder, its output, what it showed on a terminal
    (stderr) and how long it took."""

    folder: object  # pathlib.Path
    out: object  # pathlib.Path
    screen: str
    seconds: float


def make_curated_run(folder, out) -> CuratedRun:
    """A real vidla run, on the multi-process direct runner with 2 workers, of 3 sample videos with speech
    and subtitles (30 to 34 s) and a file that is not a video (so the failures have a row), at most 2
    clips a shard (several shards), watched as a terminal would see it."""
    import io
    import sys
    import time

    from curate.__main__ import main
    from samplemedia import make_sample_folder

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    make_sample_folder(folder, 3, seconds=(30, 34), seed=11)
    (folder / "broken.mp4").write_bytes(b"not a video")
    screen, saved = Terminal(), sys.stderr
    sys.stderr = screen
    started = time.monotonic()
    try:
        rc = main(
            [
                "run",
                "--recipe",
                "vidla",
                "--input",
                str(folder),
                "--output",
                str(out),
                "--shard-max-samples",
                "2",
                "--direct_running_mode=multi_processing",
                "--direct_num_workers=2",
            ]
        )
    finally:
        sys.stderr = saved
    if rc:
        raise RuntimeError(f"curate run failed ({rc}):\n{screen.getvalue()[-3000:]}")
    return CuratedRun(folder, out, screen.getvalue(), time.monotonic() - started)


def read_failures(out) -> list:
    """The failure records an output folder's failures.jsonl holds, as dicts, in file order."""
    return [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]


def fit_args(shards, run, *extra, config: str = "vidla-tiny-cpu") -> list:
    """``python -m train fit`` arguments for a tiny run without a progress bar (``extra``: overrides)."""
    return ["fit", "--config", config, "--shards", str(shards), "--output", str(run), "--no-progress", *extra]


def benchmark_args(dataset: str, annotations, videos) -> list:
    """The arguments naming a public benchmark's annotations and videos (``python -m train fit/eval``)."""
    return ["--dataset", dataset, "--annotations", str(annotations), "--videos", str(videos)]


def finetune_args(run, init_from, dataset: str, annotations, videos, *extra, config: str = "tiny-cpu") -> list:
    """``python -m train fit`` arguments that fine-tune the run ``init_from`` (and its tokenizer) on a
    benchmark's annotations into ``run`` (``extra``: options, then overrides)."""
    return [
        "fit",
        "--config",
        config,
        *benchmark_args(dataset, annotations, videos),
        "--output",
        str(run),
        "--no-progress",
        *extra,
        f"init_from={init_from}",
        f"tokenizer={init_from / 'tokenizer'}",
    ]


def train_one_step(shards, run, config: str = "tiny-cpu"):
    """A tiny run folder of ``config`` after one training step of 2 clips, through ``python -m train fit``."""
    from train.__main__ import main

    assert main(fit_args(shards, run, "--steps", "1", "--batch-size", "2", config=config)) == 0
    return run


def last_json_line(capsys) -> dict:
    """The JSON object a ``python -m train`` command printed last."""
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


# ---- peak memory of a command and every process under it (Linux /proc)


def _children(pid: int) -> list:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return found


def _peak_kb(pid: int):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
        return " ".join(a.decode(errors="replace") for a in args[:4])[:70]
    except OSError:
        return "?"


def run_measured(cmd: list) -> tuple:
    """(seconds, {pid: (peak MB, command)}) of a command and every process under it (sampled)."""
    import subprocess
    import time

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=repo)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peaks: dict = {}
    while proc.poll() is None:
        todo, seen = [proc.pid], set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            kb = _peak_kb(pid)
            if kb is not None:
                peaks[pid] = (max(kb / 1024, peaks.get(pid, (0, ""))[0]), peaks.get(pid, (0, _name(pid)))[1])
            todo += _children(pid)
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    out = proc.stdout.read().decode(errors="replace")
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-3000:]}")
    return seconds, peaks
