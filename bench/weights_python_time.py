#!/usr/bin/env python3
"""Baseline of bench_weights.

  weights_python_time.py to-pth IN.safetensors OUT.pth
      writes the same tensors as {'model': state_dict} with torch.save
  weights_python_time.py time IN.safetensors IN.pth
      prints two lines: seconds (best of 3) for safetensors.numpy.load_file
      and for torch.load(..., map_location='cpu'); "nan" where the package
      is missing."""
import sys
import time


def best_of(fn, rounds=3):
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    if sys.argv[1] == "to-pth":
        import torch
        from safetensors.torch import load_file

        torch.save({"model": load_file(sys.argv[2])}, sys.argv[3])
        return
    st_path, pth_path = sys.argv[2], sys.argv[3]
    try:
        from safetensors.numpy import load_file

        print(best_of(lambda: load_file(st_path)))
    except ImportError:
        print("nan")
    try:
        import torch

        print(best_of(lambda: torch.load(pth_path, map_location="cpu", weights_only=True)))
    except ImportError:
        print("nan")


if __name__ == "__main__":
    main()
