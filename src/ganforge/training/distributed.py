"""Data-parallel training under ``torchrun`` (gloo on CPU, nccl on CUDA).

Each rank draws its own shard of every batch; after each backward pass the gradients are
averaged with one flat all-reduce per network, the same reduction DistributedDataParallel
performs. It is done by hand because DDP's reducer does not support the double backward of
R1 and the gradient penalty (see the DistributedDataParallel notes in the PyTorch docs),
the reason StyleGAN2-ADA does the same. Buffers (batch-norm statistics) are broadcast from
rank 0 so every rank holds identical generator and EMA weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device_type: str) -> "DistContext":
        """Join the process group torchrun describes in the environment, if any."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
        return cls(rank=rank, world_size=world, local_rank=local)

    def average_gradients(self, module: torch.nn.Module) -> None:
        """All-reduce the gradients of ``module`` (mean over ranks) in one flat buffer."""
        if not self.enabled:
            return
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for g in grads:
            n = g.numel()
            g.copy_(flat[offset : offset + n].view_as(g))
            offset += n

    def broadcast_module(self, module: torch.nn.Module, *, buffers_only: bool = False) -> None:
        """Make ``module`` identical on every rank by copying rank 0's tensors."""
        if not self.enabled:
            return
        tensors = list(module.buffers()) if buffers_only else list(module.state_dict().values())
        for t in tensors:
            dist.broadcast(t, src=0)

    def all_agree(self, flag: bool, device: torch.device) -> bool:
        """True only when ``flag`` is true on every rank (used to stop all ranks together)."""
        if not self.enabled:
            return flag
        t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return bool(t.item())

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()
