"""Where and how a record was produced: environment, git commit, measured matmul speed."""

from __future__ import annotations

import platform
import subprocess
import time
from pathlib import Path

import numpy as np


def matmul_gflops(repeats: int = 20) -> float:
    """Measured float32 matmul throughput (610x1024 @ 1024x600, the encoder's largest product)."""
    import torch

    a, b = torch.randn(610, 1024), torch.randn(1024, 600)
    a @ b
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * 610 * 1024 * 600 * repeats / (time.perf_counter() - t) / 1e9


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def cpu_model() -> str | None:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` says):
    torch-trained numbers differ between CPUs (other float kernels), so records name it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def environment() -> dict:
    import torch

    return {
        "commit": git_commit(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu": cpu_model(),
        # the widest vector instructions torch's kernels use here (AVX2, AVX512...)
        "torch_cpu": torch.backends.cpu.get_cpu_capability(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
