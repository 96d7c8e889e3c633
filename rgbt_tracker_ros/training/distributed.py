"""Distributed data-parallel setup from ``torchrun``'s environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``).

The same command line runs as one process or under ``torchrun --nproc_per_node N``: with
``WORLD_SIZE > 1`` the process group is initialised (``nccl`` on CUDA, ``gloo`` on CPU), each
process uses ``cuda:LOCAL_RANK`` (or the CPU) and only rank 0 writes files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

import torch
import torch.distributed as dist

from rgbt_tracker_ros.errors import InputError


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Only the main process (rank 0) writes checkpoints, logs and progress bars."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def _env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InputError(f"environment variable {name}={value!r} is not an integer") from None


def setup_distributed(device: torch.device, environ: Mapping[str, str] = os.environ) -> DistributedContext:
    """Read the torchrun variables and, for ``WORLD_SIZE > 1``, join the process group.

    ``device`` is the device asked for (CPU or CUDA); under DDP on CUDA each process takes
    ``cuda:LOCAL_RANK``.
    """
    world_size = _env_int(environ, "WORLD_SIZE", 1)
    rank = _env_int(environ, "RANK", 0)
    local_rank = _env_int(environ, "LOCAL_RANK", rank)
    if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
        raise InputError(f"inconsistent torchrun environment: RANK={rank} WORLD_SIZE={world_size} LOCAL_RANK={local_rank}")
    if world_size == 1:
        return DistributedContext(device=device)
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise InputError(
                f"LOCAL_RANK={local_rank} but only {torch.cuda.device_count()} CUDA device(s) are visible; "
                "start at most one process per GPU"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        for name in ("MASTER_ADDR", "MASTER_PORT"):
            if name not in environ:
                raise InputError(f"WORLD_SIZE={world_size} but {name} is not set; start the run with torchrun")
        dist.init_process_group(
            backend="nccl" if device.type == "cuda" else "gloo",
            init_method="env://",
            rank=rank,
            world_size=world_size,
        )
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def cleanup_distributed(context: DistributedContext) -> None:
    """Leave the process group (no-op for single-process runs)."""
    if context.is_distributed and dist.is_initialized():
        dist.destroy_process_group()


def average_across_processes(values: dict[str, float], context: DistributedContext) -> dict[str, float]:
    """Mean of each value over all processes (identity for single-process runs)."""
    if not context.is_distributed or not values:
        return dict(values)
    keys = sorted(values)
    device = context.device if context.device.type == "cuda" else torch.device("cpu")
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return {k: float(v) / context.world_size for k, v in zip(keys, tensor.tolist())}


def barrier(context: DistributedContext) -> None:
    """Wait for every process (no-op for single-process runs)."""
    if context.is_distributed:
        dist.barrier()
