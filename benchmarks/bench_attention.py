"""Fast hierarchical temporal attention vs the dense-mask reference, forward + backward, ViT-B/16 shapes.

    python benchmarks/bench_attention.py            # CPU: batch 1, one layer (defaults below)
    python benchmarks/bench_attention.py --batch 8  # on a GPU, bf16

Cases, all at N=196, T=12, D=768, 12 heads, U=3, V=4, r=2:
- "core-*": the attention operation alone (given q, k, v), i.e. what the fast path replaces;
- "layer-*": one whole VidLA layer (local temporal + global spatio-temporal attention + MLP);
  each "fast" against two dense baselines: "dense-math", the paper's softmax(QK^T/sqrt(d) + M) V with
  explicit (TN)^2 and (1+UV+TN)^2 masks (the reference of tests/train/test_attention.py), and
  "dense-sdpa", F.scaled_dot_product_attention given the same dense masks;
- "local-*": the local temporal attention alone, fused SDPA vs batched matmuls (why CUDA uses the latter).

Peak memory: on CUDA torch.cuda.max_memory_allocated above the inputs (second run); on CPU each case runs
once in a fresh subprocess that reports its peak resident set (ru_maxrss) above the resident set just
before the run (allocator overhead included, equally for every case). Time: the fastest of --repeats
runs, the cases interleaved (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "train")]

from test_attention import global_mask, local_temporal_mask  # noqa: E402  the dense reference

from train.model import PRESETS, build_model  # noqa: E402
from train.model.attention import (  # noqa: E402
    TokenLayout,
    global_spatiotemporal_attention,
    local_temporal_attention,
    local_temporal_attention_matmul,
    local_temporal_attention_sdpa,
)

CASES = (
    "core-fast",
    "core-dense-math",
    "core-dense-sdpa",
    "layer-fast",
    "layer-dense-math",
    "layer-dense-sdpa",
    "local-sdpa",
    "local-matmul",
)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def dense_attention(q_BHLd, k_BHLd, v_BHLd, mask_LL, use_sdpa: bool):
    if use_sdpa:
        return F.scaled_dot_product_attention(q_BHLd, k_BHLd, v_BHLd, attn_mask=mask_LL)
    scores = q_BHLd @ k_BHLd.transpose(-1, -2) / q_BHLd.shape[-1] ** 0.5 + mask_LL
    return scores.softmax(dim=-1) @ v_BHLd


def core_step(kind: str, layout: TokenLayout, masks, q, k, v):
    """One attention pass (local temporal over patches + global) on (B, L, H, hd) q/k/v."""
    B, L, H, hd = q.shape
    T, N, first = layout.num_frames, layout.num_patches, 1 + layout.num_mst
    if kind == "fast":
        patches = [x[:, first:].unflatten(1, (T, N)) for x in (q, k, v)]
        local = local_temporal_attention(*patches)
        return local.sum() + global_spatiotemporal_attention(q, k, v, layout).sum()
    use_sdpa = kind == "dense-sdpa"
    local_mask, full_mask = masks
    heads = [x.transpose(1, 2) for x in (q, k, v)]  # (B, H, L, hd)
    local = dense_attention(*(x[:, :, first:] for x in heads), local_mask, use_sdpa)
    return local.sum() + dense_attention(*heads, full_mask, use_sdpa).sum()


def layer_step(kind: str, layer, layout: TokenLayout, masks, x):
    if kind == "fast":
        return layer.forward_video(x, layout).sum()
    use_sdpa = kind == "dense-sdpa"
    local_mask, full_mask = masks
    first = 1 + layout.num_mst

    def mmsa(h, proj, mask):
        B, L, D = h.shape
        qkv = [t.transpose(1, 2) for t in proj.qkv(h)]
        return proj.out_proj(dense_attention(*qkv, mask, use_sdpa).transpose(1, 2).reshape(B, L, D))

    patches = x[:, first:]
    patches = patches + mmsa(layer.temporal_norm(patches), layer.temporal_attn, local_mask)
    x = torch.cat([x[:, :first], patches], dim=1)
    x = x + mmsa(layer.layer_norm1(x), layer.self_attn, full_mask)
    return (x + layer.mlp(layer.layer_norm2(x))).sum()


def make_step(case: str, args):
    """Inputs for `case` and a function running its forward + backward once."""
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    cfg = PRESETS["vidla-b16"]().replace(vision_layers=1)
    layout = TokenLayout(cfg.num_frames, cfg.num_patches, *cfg.mst_levels)
    D, H = cfg.vision_width, cfg.vision_heads
    torch.manual_seed(0)
    part, kind = case.split("-", 1)
    masks = None
    if kind != "fast":
        masks = tuple(m.to(device, dtype) for m in (local_temporal_mask(layout), global_mask(layout)))
    if part == "local":  # the two implementations of the local temporal attention alone
        fn = local_temporal_attention_sdpa if kind == "sdpa" else local_temporal_attention_matmul
        inputs = [
            torch.randn(
                args.batch, cfg.num_frames, cfg.num_patches, H, D // H, device=device, dtype=dtype, requires_grad=True
            )
            for _ in range(3)
        ]
        return lambda: fn(*inputs).sum().backward()
    if part == "core":
        inputs = [
            torch.randn(args.batch, layout.num_tokens, H, D // H, device=device, dtype=dtype, requires_grad=True)
            for _ in range(3)
        ]
        return lambda: core_step(kind, layout, masks, *inputs).backward()
    layer = build_model(cfg).vision_model.encoder.layers[0].to(device, dtype)
    x = torch.randn(args.batch, layout.num_tokens, D, device=device, dtype=dtype, requires_grad=True)
    return lambda: layer_step(kind, layer, layout, masks, x).backward()


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def peak_bytes_in_process(step, device: str, warm: bool) -> int:
    """Peak memory of one `step` above what is allocated before it (CUDA: allocator; CPU: resident set)."""
    if device == "cuda":
        if warm:
            step()
        sync(device)
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        sync(device)
        return torch.cuda.max_memory_allocated() - before
    before = rss_bytes()
    step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before


def peak_bytes(case: str, args, script: str) -> int:
    """On CPU a fresh subprocess per case (ru_maxrss cannot be reset); on CUDA in this process."""
    if args.device == "cuda":
        result = peak_bytes_in_process(args.make_step(case, args), args.device, warm=True)
        torch.cuda.empty_cache()
        return result
    command = [sys.executable, script, "--child", case] + args.child_argv
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_bytes"]


def interleaved_seconds(steps: dict, repeats: int, device: str) -> dict:
    """Fastest of `repeats` timed runs per case, cases interleaved so that load from other processes on a
    shared machine hits every case alike."""
    for step in steps.values():
        step()
    best = {name: float("inf") for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            sync(device)
            start = time.perf_counter()
            step()
            sync(device)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def run_all(cases, args, script: str) -> dict:
    """{case: {"seconds", "peak_bytes"}}: memory first (one case at a time), then interleaved timing."""
    if args.child:
        step = args.make_step(args.child, args)
        print(json.dumps({"peak_bytes": peak_bytes_in_process(step, args.device, warm=False)}))
        sys.exit(0)
    peaks = {}
    for case in cases:
        try:
            peaks[case] = peak_bytes(case, args, script)
        except torch.cuda.OutOfMemoryError:
            print(f"{case}: out of memory, left out", flush=True)
            torch.cuda.empty_cache()
    seconds = interleaved_seconds({case: args.make_step(case, args) for case in peaks}, args.repeats, args.device)
    return {case: {"seconds": seconds[case], "peak_bytes": peaks[case]} for case in peaks}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cuda = torch.cuda.is_available()
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    parser.add_argument("--dtype", default="bfloat16" if cuda else "float32")
    parser.add_argument("--batch", type=int, default=8 if cuda else 1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.make_step = make_step
    args.child_argv = ["--device", args.device, "--dtype", args.dtype, "--batch", str(args.batch)]
    if not args.child:
        print(
            f"# fast vs dense-mask hierarchical temporal attention, forward+backward, {args.device} "
            f"{args.dtype}, batch {args.batch}, N=196 T=12 D=768 heads=12 U=3 V=4 r=2 (L=2365 tokens), "
            f"best of {args.repeats} interleaved",
            flush=True,
        )
    results = run_all(CASES, args, __file__)
    for case, r in results.items():
        print(f"{case:18s} {r['seconds'] * 1e3:9.1f} ms   peak {r['peak_bytes'] / 2**20:9.1f} MiB")
    for part in ("core", "layer"):
        fast = results.get(f"{part}-fast")
        for baseline in ("dense-math", "dense-sdpa"):
            dense = results.get(f"{part}-{baseline}")
            if fast is None or dense is None:
                continue
            print(
                f"{part:5s} {baseline:10s} / fast: time {dense['seconds'] / fast['seconds']:6.1f}x   "
                f"peak memory {dense['peak_bytes'] / max(fast['peak_bytes'], 1):6.1f}x"
            )
    if {"local-sdpa", "local-matmul"} <= results.keys():
        sdpa, matmul = results["local-sdpa"], results["local-matmul"]
        print(
            f"local temporal attention, SDPA / batched matmul: time {sdpa['seconds'] / matmul['seconds']:6.2f}x   "
            f"peak memory {sdpa['peak_bytes'] / max(matmul['peak_bytes'], 1):6.2f}x"
        )


if __name__ == "__main__":
    main()
