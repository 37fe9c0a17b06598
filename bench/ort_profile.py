"""ONNX Runtime's own per-operator profile of the RF-DETR model that
bench_infer races against, to set beside `bench_infer --profile` (ours):
which operators ONNX Runtime spends its time in, and the rate of each of
its matrix products with the shapes it saw.

    python3 bench/ort_profile.py [--size nano] [--resolution 384] [--batch 1]
                                 [--threads 1] [--runs 8]

The model is the rfdetr package's (random weights, the same construction
as bench/infer_python_time.py), exported by its export_onnx. A developer's tool:
exit 77 when torch, onnx or onnxruntime cannot be imported.
"""

import argparse
import json
import math
import os
import sys
import tempfile
import warnings
from collections import defaultdict

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import onnxruntime as ort
    import torch

    import model_reference as ref
    from infer_python_time import export_onnx
except Exception as e:  # noqa: BLE001 - any missing piece means: skip
    print(f"ort_profile.py: skipped ({e})", file=sys.stderr)
    sys.exit(77)


def shapes(args, key):
    return [list(d.values())[0] for d in args.get(key, [])]


def product_flops(ins, outs):
    """2 m n k of a MatMul/Gemm from its input shapes (a weight initializer
    is not listed: its k is the input's last axis, its n the output's)."""
    if not ins or not outs:
        return 0
    a, y = ins[0], outs[0]
    if len(a) < 2 or len(y) < 2:
        return 0
    return 2 * math.prod(y) * a[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="nano")
    ap.add_argument("--resolution", type=int, default=384)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=8)
    a = ap.parse_args()
    if a.batch < 1 or a.threads < 1 or not 1 <= a.runs <= 100:
        print("ort_profile.py: --batch and --threads >= 1, --runs 1..100", file=sys.stderr)
        sys.exit(2)
    torch.manual_seed(0)
    cfg, model = ref.build(a.size, a.resolution)
    model.eval()
    res = cfg["resolution"]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, a.size + ".onnx")
        export_onnx(model, res, path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(tmp, "ort_profile")
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        feed = {"input": torch.randn(a.batch, 3, res, res).numpy()}
        warmup = 3
        for _ in range(warmup + a.runs):
            sess.run(None, feed)
        with open(sess.end_profiling()) as f:
            events = json.load(f)
    # Only the operators of the timed runs: those after the warm-up runs end.
    ends = sorted(e["ts"] + e["dur"] for e in events if e.get("cat") == "Session" and e["name"] == "model_run")
    start = ends[warmup - 1]
    runs = len(ends) - warmup
    by_op = defaultdict(lambda: [0, 0.0])
    products = defaultdict(lambda: [0, 0.0, 0.0])
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time") or e["ts"] < start:
            continue
        op = e["args"]["op_name"]
        by_op[op][0] += 1
        by_op[op][1] += e["dur"]
        if op in ("MatMul", "FusedMatMul", "Gemm"):
            ins, outs = shapes(e["args"], "input_type_shape"), shapes(e["args"], "output_type_shape")
            key = (op, str(ins[0] if ins else []), str(outs[0] if outs else []))
            products[key][0] += 1
            products[key][1] += e["dur"]
            products[key][2] += product_flops(ins, outs)
    total = sum(v[1] for v in by_op.values())
    print(f"ONNX Runtime {ort.__version__}: {a.size} at {res} px, batch {a.batch}, {a.threads} thread(s), "
          f"{runs} runs; per run:")
    print(f"  {'operator':24s} {'calls':>6s} {'ms':>9s} {'%':>6s}")
    for op, (calls, us) in sorted(by_op.items(), key=lambda kv: -kv[1][1]):
        if us / total < 0.002:
            continue
        print(f"  {op:24s} {calls / runs:6.1f} {us / runs / 1e3:9.2f} {100 * us / total:6.1f}")
    print(f"  {'total (kernels)':24s} {sum(v[0] for v in by_op.values()) / runs:6.1f} {total / runs / 1e3:9.2f}")
    print("  matrix products by shape (first input -> output):")
    for (op, x, y), (calls, us, flops) in sorted(products.items(), key=lambda kv: -kv[1][1])[:12]:
        rate = f"{flops / us * 1e-3:7.1f} GFLOP/s" if flops else ""
        print(f"    {op:12s} {x:22s} -> {y:22s} {calls / runs:5.1f} calls {us / runs / 1e3:8.2f} ms {rate}")


if __name__ == "__main__":
    main()
