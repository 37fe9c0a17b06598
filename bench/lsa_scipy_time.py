#!/usr/bin/env python3
"""Baseline of bench_lsa: times scipy.optimize.linear_sum_assignment on the
matrices bench_lsa wrote (same format as tests/fixtures/lsa_scipy.py) and
prints one line per matrix: microseconds per call (best of 5 rounds)."""
import struct
import sys
import time

import numpy as np
from scipy.optimize import linear_sum_assignment


def main(path, repeats):
    data = open(path, "rb").read()
    (count,) = struct.unpack_from("<i", data, 0)
    offset = 4
    for _ in range(count):
        rows, cols = struct.unpack_from("<ii", data, offset)
        offset += 8
        cost = np.frombuffer(data, dtype="<f8", count=rows * cols, offset=offset).reshape(rows, cols).copy()
        offset += 8 * rows * cols
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(repeats):
                linear_sum_assignment(cost)
            best = min(best, (time.perf_counter() - start) / repeats)
        print(f"{best * 1e6:.3f}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
