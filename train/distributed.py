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


def wrap_model(module: torch.nn.Module, info: DistInfo, sync_batch_norm: bool | None = None) -> torch.nn.Module:
    """DDP across the group (a no-op for one process). With ``sync_batch_norm`` (default: on GPUs) the
    batch norms that learn (VIMPAC's contrastive head) become SyncBatchNorm: statistics over the global
    batch, as the paper trains them; frozen ones stay as they are (``sync_batch_norms``)."""
    if info.world_size == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    if info.device.type == "cuda" if sync_batch_norm is None else sync_batch_norm:
        module = sync_batch_norms(module)

    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids)


def is_frozen_batch_norm(module: torch.nn.Module) -> bool:
    """A batch norm that learns nothing: no trainable affine parameter. Its running statistics are fixed
    too (HD-VILA's ResNets keep theirs: ``resnet.ResNet(norm_eval=True)``)."""
    return isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and not any(
        p.requires_grad for p in module.parameters(recurse=False)
    )


def sync_batch_norms(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` with its learning batch norms as SyncBatchNorm (``SyncBatchNorm.convert_sync_batchnorm``
    for each). A frozen one is left alone: converted, it would leave the eval mode its owner keeps it in
    (an owner's ``train()`` looks for its own BatchNorm2d) and compute and update batch statistics again."""
    if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
        return module if is_frozen_batch_norm(module) else torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        converted = sync_batch_norms(child)
        if converted is not child:
            module.add_module(name, converted)
    return module


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
