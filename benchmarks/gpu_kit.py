"""The GPU measurements of the model stages, for a GPU machine that can fetch nothing (no package index,
no ffmpeg, no espeak-ng): build a kit where the network is, copy it over, run it there in one go.

    python benchmarks/gpu_kit.py build gpu-kit                  # here: packages, footage, clips
    python benchmarks/gpu_kit.py run gpu-kit --out results      # there: each benchmark under a time limit
    python benchmarks/gpu_kit.py run gpu-kit --device cpu       # the same steps with the tiny models

The kit holds
  site.tar.xz         the Python packages the stages need beyond a CUDA PyTorch image (PyAV, Apache Beam
                      and those of Beam's requirements such images lack: KIT_PACKAGES), at the versions
                      installed here, for --python (default 3.12) on x86-64 Linux, unpacked without their
                      tests and packed with xz (about 48 MB); `run` unpacks it when `import av,
                      apache_beam` fails and puts it on the benchmarks' PYTHONPATH;
  bikes-60s.mp4       bench_caption's camera footage (a minute; `--loop` and `--copies` make more of it);
  summary-clips.pkl   bench_summarize's planned clips (--save-clips), planned on espeak-ng speech here.

`run` times, in this order, each under its own limit (--limits), writing each log to --out:
  train-step   bench_train_step.py: VidLA's step against meanP (bf16 autocast on a GPU);
  caption      bench_caption.py throughput: BLIP-2 at blip2-opt-2.7b's sizes (tiny on CPU), both frame modes,
               on four 7-minute videos (the footage looped);
  summarize    bench_summarize.py, transformers backend, Llama-2-7B's sizes (tiny on CPU);
  vllm         bench_summarize.py --backend vllm, where vllm imports (it is not in the kit: its CUDA wheel
               is larger than most transfer limits).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# what the caption and summary stages import beyond a CUDA PyTorch image (torch, transformers, numpy,
# pyarrow, protobuf, grpcio, pyyaml, requests, pillow, ...): PyAV and Beam with its missing requirements
KIT_PACKAGES = (
    "av",
    "apache-beam",
    "beartype",
    "cffi",
    "cryptography",
    "dnspython",
    "fastavro",
    "fasteners",
    "httplib2",
    "jsonpickle",
    "objsize",
    "proto-plus",
    "pycparser",
    "pymongo",
    "pytz",
    "zstandard",
)
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)
SKIPPED = ("__pycache__", "examples")  # folders left out of the unpacked packages, with the *_test.py files

FOOTAGE, CLIPS, SITE = "bikes-60s.mp4", "summary-clips.pkl", "site.tar.xz"
STEPS = ("train-step", "caption", "summarize", "vllm")
LIMITS = {"train-step": 90, "caption": 240, "summarize": 170, "vllm": 120}  # seconds; guesses for an H100/H200


def build(kit: Path, python: str) -> None:
    kit.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gpu-kit-") as work:
        wheels = Path(work) / "wheels"
        pins = [f"{name}=={importlib.metadata.version(name)}" for name in KIT_PACKAGES]
        platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                python,
                "--implementation",
                "cp",
                *platforms,
                "-d",
                str(wheels),
                *pins,
            ],
            check=True,
        )
        site = Path(work) / "site"
        for wheel in sorted(wheels.glob("*.whl")):
            with zipfile.ZipFile(wheel) as z:
                z.extractall(site, [n for n in z.namelist() if _kept(n)])
        with tarfile.open(kit / SITE, "w:xz", preset=6) as tar:
            tar.add(site, arcname=".")
        sys.path[:0] = [str(ROOT), str(HERE), str(ROOT / "tests" / "models")]
        from bench_caption import make_video

        shutil.copy(make_video(work, "bikes", 60.0), kit / FOOTAGE)
    subprocess.run([sys.executable, str(HERE / "bench_summarize.py"), "--save-clips", str(kit / CLIPS)], check=True)
    sizes = ", ".join(f"{p.name} {p.stat().st_size / 2**20:.1f} MiB" for p in sorted(kit.iterdir()))
    print(f"kit {kit}: {sizes}; packages {', '.join(pins)} for CPython {python}")


def _kept(name: str) -> bool:
    parts = name.split("/")
    return not (set(parts[:-1]) & set(SKIPPED) or parts[-1].endswith("_test.py"))


def run(kit: Path, out: Path, device: str, steps: list, limits: dict) -> int:
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if not _importable(env, "av", "apache_beam"):
        site = Path(tempfile.mkdtemp(prefix="gpu-kit-site-"))
        with tarfile.open(kit / SITE) as tar:
            tar.extractall(site, filter="data")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
        print(f"packages from {kit / SITE} in {site}", flush=True)
    cpu = device == "cpu"
    commands = {
        "train-step": ["bench_train_step.py", "--cases", "vidla,meanp"] + (["--device", "cpu"] if cpu else []),
        # videos of about HD-VILA-100M's average length (6.7 min): 4 x 7 minutes, 168 frames at 0.1 FPS
        "caption": [
            "bench_caption.py",
            "throughput",
            "--device",
            device,
            "--video",
            str(kit / FOOTAGE),
            "--model",
            "tiny" if cpu else "blip2-opt-2.7b-size",
            "--loop",
            "2" if cpu else "7",
            "--copies",
            "2" if cpu else "4",
            "--repeats",
            "1" if cpu else "2",
        ],
        "summarize": [
            "bench_summarize.py",
            "--device",
            device,
            "--clips",
            str(kit / CLIPS),
            "--model",
            "tiny" if cpu else "llama-2-7b-size",
            "--videos",
            "1" if cpu else "4",
            "--repeats",
            "1" if cpu else "2",
        ],
        "vllm": [
            "bench_summarize.py",
            "--backend",
            "vllm",
            "--device",
            device,
            "--clips",
            str(kit / CLIPS),
            "--model",
            "tiny" if cpu else "llama-2-7b-size",
            "--videos",
            "1" if cpu else "50",
            "--repeats",
            "1" if cpu else "2",
        ],
    }
    failed = []
    for step in steps:
        log = out / f"{step}.txt"
        if step == "vllm" and not _importable(env, "vllm"):
            print(f"== {step}: skipped, vllm does not import here", flush=True)
            log.write_text("skipped: vllm does not import here\n")
            continue
        command = [sys.executable, str(HERE / commands[step][0]), *commands[step][1:]]
        print(f"== {step} (at most {limits[step]} s): {' '.join(command[1:])}", flush=True)
        start = time.perf_counter()
        with open(log, "w") as f:
            try:
                code = subprocess.run(
                    command, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT, timeout=limits[step], check=False
                ).returncode
            except subprocess.TimeoutExpired:
                code = "timed out"
        print(log.read_text(), end="", flush=True)
        print(
            f"== {step}: {'ok' if code == 0 else f'FAILED ({code})'} in {time.perf_counter() - start:.0f} s", flush=True
        )
        if code != 0:
            failed.append(step)
    return 1 if failed else 0


def _importable(env: dict, *modules: str) -> bool:
    """Whether the benchmarks, run with `env`, can import `modules`."""
    probe = "import importlib.util, sys; sys.exit(any(importlib.util.find_spec(m) is None for m in sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", probe, *modules], env=env, check=False).returncode == 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    b = sub.add_parser("build", help="make the kit (needs the package index, ffmpeg, espeak-ng)")
    b.add_argument("kit", type=Path)
    b.add_argument("--python", default="3.12", help="the GPU machine's Python version (default %(default)s)")
    r = sub.add_parser("run", help="run the benchmarks from the kit")
    r.add_argument("kit", type=Path)
    r.add_argument("--out", type=Path, default=Path("gpu-kit-results"), help="a log per step")
    r.add_argument("--device", default="cuda", help="cuda (real model sizes) or cpu (the tiny models)")
    r.add_argument("--steps", default=",".join(STEPS), help=f"a comma-separated subset of {','.join(STEPS)}")
    r.add_argument(
        "--limits",
        default=",".join(f"{s}={t}" for s, t in LIMITS.items()),
        help="seconds per step, step=seconds,... (default %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.what == "build":
        build(args.kit, args.python)
        return 0
    steps = args.steps.split(",")
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        parser.error(f"unknown steps {unknown}: choose from {','.join(STEPS)}")
    limits = dict(LIMITS)
    for item in filter(None, args.limits.split(",")):
        step, _, seconds = item.partition("=")
        if step not in STEPS or not seconds.isdigit():
            parser.error(f"--limits takes step=seconds with a step of {','.join(STEPS)}, got {item!r}")
        limits[step] = int(seconds)
    missing = [name for name in (SITE, FOOTAGE, CLIPS) if not (args.kit / name).exists()]
    if missing:
        parser.error(f"{args.kit} lacks {', '.join(missing)}: build it with `gpu_kit.py build {args.kit}`")
    return run(args.kit, args.out, args.device, steps, limits)


if __name__ == "__main__":
    sys.exit(main())
