#!/usr/bin/env python3
"""GFLOP/s of PyTorch's linear layer (x @ W.T, MKL/oneDNN on x86) at the shapes of
crates/sgemm/examples/throughput.rs, for the kernel table in docs/PERFORMANCE.md.

Dev-time only: `$HOME/.cache/kneeclip-venv/bin/python tools/gemm_pytorch.py [THREADS]`.
"""
import sys
import time

import torch

SHAPES = [(50, 768, 768), (50, 768, 2304), (50, 768, 3072), (50, 3072, 768),
          (800, 768, 3072), (3200, 768, 3072), (114, 512, 2048)]


def main() -> None:
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    torch.set_num_threads(threads)
    print(f"PyTorch {torch.__version__}, threads: {torch.get_num_threads()}")
    for m, k, n in SHAPES:
        a, w = torch.rand(m, k), torch.rand(n, k)
        runs = max(3, min(2000, int(2e10 / (2 * m * n * k))))
        times = []
        with torch.no_grad():
            for _ in range(3):  # warm-up
                torch.nn.functional.linear(a, w)
            for _ in range(runs):
                t = time.perf_counter()
                torch.nn.functional.linear(a, w)
                times.append(time.perf_counter() - t)
        times.sort()
        median = times[len(times) // 2]
        print(f"{m:>4}×{k:>4}×{n:>4}: {median * 1e3:>7.3f} ms  {2 * m * n * k / median / 1e9:>6.1f} GFLOP/s")


if __name__ == "__main__":
    main()
