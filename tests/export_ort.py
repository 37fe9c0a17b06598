#!/usr/bin/env python3
"""Runs an ONNX model written by `rfdetr export` under ONNX Runtime and
compares it with rfdetr.c's own forward pass (called by tests/test_export.c).

Checks, in order:
  * the interface RF-DETR's exporter writes: one input "input" (N, 3, R, R)
    float32, outputs "dets" (N, Q, 4) and "labels" (N, Q, C) float32, with N
    the fixed batch or the symbolic "batch";
  * the graph passes onnx.checker (full check, shape inference) when the
    onnx package is importable;
  * dets and labels on DIR/input.f32 within --tol (max abs) of DIR/dets.f32
    and DIR/labels.f32 (the C forward pass, raw float32);
  * with --torch-io, also within --tol of PyTorch's eval outputs stored
    there (tests/fixtures/model/micro_io.safetensors: RF-DETR's own modules).

Exit 0 pass, 1 fail, 77 when onnxruntime cannot be imported (ctest's skip)."""
import argparse
import os
import sys

try:
    import numpy as np
    import onnxruntime as ort
except Exception as e:  # noqa: BLE001 - any import failure means "cannot run here"
    print(f"export_ort.py: skipped: onnxruntime cannot be imported ({e}); pip install onnxruntime")
    sys.exit(77)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--batch-dim", required=True, help="the graph's batch dimension: a number or 'batch'")
    ap.add_argument("--resolution", type=int, required=True)
    ap.add_argument("--queries", type=int, required=True)
    ap.add_argument("--classes", type=int, required=True)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--torch-io")
    a = ap.parse_args()
    failures = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    try:
        import onnx
    except Exception:  # noqa: BLE001
        onnx = None
    if onnx is not None:
        try:
            onnx.checker.check_model(onnx.load(a.onnx), full_check=True)
            check(True, "onnx.checker (full check)")
        except Exception as e:  # noqa: BLE001
            check(False, f"onnx.checker: {e}")

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(a.onnx, opts, providers=["CPUExecutionProvider"])
    n = a.batch_dim if a.batch_dim == "batch" else int(a.batch_dim)
    r, q, c = a.resolution, a.queries, a.classes
    ins = [(i.name, list(i.shape), i.type) for i in sess.get_inputs()]
    outs = [(o.name, list(o.shape), o.type) for o in sess.get_outputs()]
    check(ins == [("input", [n, 3, r, r], "tensor(float)")], f"input {ins}")
    check(outs == [("dets", [n, q, 4], "tensor(float)"), ("labels", [n, q, c], "tensor(float)")], f"outputs {outs}")

    x = np.fromfile(os.path.join(a.dir, "input.f32"), dtype=np.float32).reshape(a.batch, 3, r, r)
    dets, labels = sess.run(["dets", "labels"], {"input": x})
    ref_dets = np.fromfile(os.path.join(a.dir, "dets.f32"), dtype=np.float32).reshape(a.batch, q, 4)
    ref_labels = np.fromfile(os.path.join(a.dir, "labels.f32"), dtype=np.float32).reshape(a.batch, q, c)
    d_err = float(np.abs(dets - ref_dets).max())
    l_err = float(np.abs(labels - ref_labels).max())
    check(d_err <= a.tol, f"dets vs rfdetr.c forward: max abs {d_err:.3g} (tol {a.tol:g})")
    check(l_err <= a.tol, f"labels vs rfdetr.c forward: max abs {l_err:.3g} (tol {a.tol:g}; logits up to "
          f"{float(np.abs(ref_labels).max()):.3g})")

    if a.torch_io:
        from safetensors.numpy import load_file
        io = load_file(a.torch_io)
        xt = io["images"].astype(np.float32)
        td, tl = sess.run(["dets", "labels"], {"input": xt})
        d_err = float(np.abs(td - io["eval.boxes"]).max())
        l_err = float(np.abs(tl - io["eval.logits"]).max())
        check(d_err <= a.tol, f"dets vs PyTorch (RF-DETR's modules): max abs {d_err:.3g}")
        check(l_err <= a.tol, f"labels vs PyTorch (RF-DETR's modules): max abs {l_err:.3g}")

    if failures:
        print(f"export_ort.py: {len(failures)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
