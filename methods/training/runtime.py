"""Where and how a torch model trains: the device, seeded random generators, the CPU thread
count and the optimiser. Each is scoped: nothing here changes the process for good."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import torch


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; anything else is passed to torch
    (``"cpu"``, ``"cuda"``, ``"cuda:1"``...)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _cuda_index(device: torch.device) -> int:
    return device.index if device.index is not None else torch.cuda.current_device()


@contextmanager
def seeded(seed: int, device: str | torch.device = "cpu") -> Iterator[np.random.Generator]:
    """Run the block with torch's CPU generator (and, on a CUDA ``device``, that device's
    generator) seeded with ``seed``; yields a fresh ``np.random.default_rng(seed)``.

    Every torch generator it seeds is restored on exit (``torch.random.fork_rng``), so a
    fit neither depends on nor changes the caller's random state. Other CUDA devices are
    left alone (``torch.manual_seed`` would reseed them all).
    """
    device = resolve_device(device)
    cuda = [_cuda_index(device)] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.random.default_generator.manual_seed(seed)
        for index in cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield np.random.default_rng(seed)


@contextmanager
def threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (``None``: as they are); the count
    before is restored on exit, exception or not."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def adam(
    params: Iterable[torch.nn.Parameter],
    lr: float,
    weight_decay: float = 0.0,
    fused: bool = True,
) -> torch.optim.Adam:
    """Adam over ``params``; ``fused``: one kernel for all parameters where torch has one
    for their device (CUDA, and the CPU since torch 2.4), torch's default otherwise. The
    two round differently (about 1e-8 after 20 steps), so a method keeps the one its
    recorded results were made with."""
    params = list(params)
    if fused:
        try:
            return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
        except (RuntimeError, ValueError, TypeError):
            pass
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
