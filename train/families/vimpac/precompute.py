"""Precompute VIMPAC's dVAE codes into shards: ``python -m train.families.vimpac.precompute``.

Every sample of the input shards is copied to a shard of the same name in ``--output`` with one more
member, ``<key>.codes.npy``: the codes (uint16, (N, S/8, S/8)) of the clip's frames at ``--fps``,
centre-cropped to the model's frame size, from the dVAE encoder at ``--dvae-weights`` (the same file
the training run's ``model.dvae_weights`` names). VIMPAC's loader then reads windows of codes and
decodes no video. Shards are written to a temporary name and renamed when complete; a sample whose
video cannot be decoded is copied without codes and counted (the loader tokenizes it on the fly).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import tarfile
from pathlib import Path

log = logging.getLogger(__name__)


def precompute_shard(
    url: str, out_path: Path, tokenizer, image_size: int, short_side, fps: float = 2.0, batch_frames: int = 32
) -> dict:
    import numpy as np
    import torch
    from webdataset.tariterators import tarfile_samples

    from train.data.decode import DecodeError
    from train.families.vimpac.data import clip_duration, decode_clip_frames, window_stride

    counts = {"samples": 0, "with_codes": 0, "undecodable": 0}
    tmp = out_path.with_name("." + out_path.name + ".tmp")
    with tarfile.open(tmp, "w") as tar:
        for sample in tarfile_samples([{"url": url}]):
            key = sample["__key__"]
            members = {k: v for k, v in sample.items() if not k.startswith("__") and k != "codes.npy"}
            counts["samples"] += 1
            if "mp4" in members:
                meta = json.loads(members["json"]) if "json" in members else {}
                duration = clip_duration(meta)
                try:
                    frames = decode_clip_frames(
                        members["mp4"],
                        lambda n, duration=duration: range(0, n, window_stride(n, duration, fps)),
                        image_size,
                        short_side,
                    )
                    with torch.no_grad():
                        codes = torch.cat(
                            [tokenizer.encode(chunk[None].float() / 255.0)[0] for chunk in frames.split(batch_frames)]
                        )
                    buf = io.BytesIO()
                    np.save(buf, codes.numpy().astype(np.uint16))
                    members["codes.npy"] = buf.getvalue()
                    counts["with_codes"] += 1
                except DecodeError as exc:
                    counts["undecodable"] += 1
                    log.warning("%s: %s; copied without codes", key, exc)
            for ext, data in members.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, out_path)
    return counts


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False
    )
    parser.add_argument("--shards", required=True, help="input shards (any pattern `train fit` accepts)")
    parser.add_argument("--output", required=True, help="folder for the shards with codes")
    parser.add_argument("--dvae-weights", required=True, help="DALL-E encoder state dict (train.vq)")
    parser.add_argument("--image-size", type=int, default=128, help="frame side S (the model's image_size)")
    parser.add_argument("--fps", type=float, default=2.0, help="frames per second coded (the model's sample_fps)")
    parser.add_argument("--short-side", type=int, default=None, help="scale frames at decode to this short side")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from train.data.shards import expand_shards
    from train.vq import DalleTokenizer, load_dalle_encoder

    if args.image_size % 8:
        raise ValueError(f"--image-size {args.image_size} is not a multiple of the dVAE's 8")
    tokenizer = DalleTokenizer(load_dalle_encoder(args.dvae_weights))
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    totals = {}
    for url in expand_shards(args.shards):
        counts = precompute_shard(url, out_dir / Path(url).name, tokenizer, args.image_size, args.short_side, args.fps)
        totals = {k: totals.get(k, 0) + v for k, v in counts.items()}
        log.info("%s: %s", url, counts)
    print(json.dumps(totals))
    return totals


if __name__ == "__main__":
    main()
