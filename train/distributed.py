"""Process-group setup and DDP wrapping: the only place torch.distributed is configured.

Launch with torchrun on one or many nodes (``torchrun --nnodes N --nproc-per-node G -m train fit ...``):
torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT, and ``init_distributed``
joins the group through ``env://`` (NCCL on GPUs, gloo on CPU). Without WORLD_SIZE it is one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed() -> DistInfo:
    """Join the process group when launched by torchrun; pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", init_method="env://")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return DistInfo(rank, world_size, local_rank, device)


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(module: torch.nn.Module, info: DistInfo) -> torch.nn.Module:
    """DDP across the group (a no-op for one process). On GPUs, batch norms (VIMPAC's contrastive head)
    become SyncBatchNorm: statistics over the global batch, as the paper trains them."""
    if info.world_size == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    if info.device.type == "cuda":
        module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)

    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids)


def all_reduce_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of a tensor over ranks (the tensor itself for one process)."""
    if info.world_size == 1:
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / info.world_size


def all_true(flag: bool, info: DistInfo) -> bool:
    """Whether ``flag`` holds on every rank (so that all ranks take the same branch)."""
    if info.world_size == 1:
        return flag
    t = torch.tensor([0 if flag else 1], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return int(t.item()) == 0


def gather_objects(obj: Any, info: DistInfo) -> list:
    """Every rank's ``obj``, in rank order (on every rank)."""
    if info.world_size == 1:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo) -> None:
    if info.world_size > 1:
        dist.barrier()
