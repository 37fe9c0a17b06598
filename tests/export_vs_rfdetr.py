#!/usr/bin/env python3
"""`rfdetr export` against the rfdetr package's own ONNX export of the same
weights (issue 13): the interface, the graph, and the outputs of both under
ONNX Runtime against PyTorch's eager forward pass.

tests/model_reference.py builds SIZE with the package's modules (random
weights moved off their initial values), writes them with our metadata and
PyTorch's eval outputs on a random batch. Then:

  ours:     rfdetr export --weights SIZE.safetensors --batch dynamic
  theirs:   rfdetr.export's prepare_export_graph + OnnxExporter (torch.onnx
            at opset 17, dynamic batch), as RFDETR.export(format="onnx") runs
            them, on the same model;

and checks that the graph inputs and outputs match exactly (names, element
types, shapes with the symbolic batch) and that dets and labels of both
graphs agree with PyTorch within --tol. Prints the measured differences, the
op counts and file sizes (docs/export.md quotes them).

With --time N both graphs also run N times each, interleaved, on one image
with 1 and 2 ORT threads, and the median latencies and their ratio are
printed (meaningful on a quiet machine only).

Usage: export_vs_rfdetr.py --size nano --rfdetr BUILD/rfdetr --out DIR [--resolution R] [--time N]
Exit 0 pass, 1 fail, 77 when torch, rfdetr, onnx or onnxruntime is missing."""
import argparse
import collections
import os
import subprocess
import sys
import warnings

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch
    from safetensors.torch import load_file

    from rfdetr.export._onnx.exporter import OnnxConfig, OnnxExporter
    from rfdetr.export.prepare import prepare_export_graph
except Exception as e:  # noqa: BLE001 - any import failure means "cannot run here"
    print(f"export_vs_rfdetr.py: skipped: {e} (pip install torch rfdetr onnx onnxruntime)")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_reference  # noqa: E402

warnings.filterwarnings("ignore")


def interface(path):
    m = onnx.load(path, load_external_data=False)

    def desc(v):
        t = v.type.tensor_type
        return (v.name, t.elem_type, [d.dim_param or d.dim_value for d in t.shape.dim])

    init = {i.name for i in m.graph.initializer}
    ins = [desc(v) for v in m.graph.input if v.name not in init]
    return m, ins, [desc(v) for v in m.graph.output]


def session(path, threads=2):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def run(path, images):
    return session(path).run(["dets", "labels"], {"input": images})


def latency(paths, image, runs):
    import time
    for threads in (1, 2):
        sessions = [session(p, threads) for p in paths]
        times = [[] for _ in paths]
        for s in sessions:  # warm-up
            s.run(None, {"input": image})
        for _ in range(runs):
            for s, t in zip(sessions, times):
                start = time.perf_counter()
                s.run(None, {"input": image})
                t.append(time.perf_counter() - start)
        med = [sorted(t)[len(t) // 2] * 1e3 for t in times]
        print(f"     ONNX Runtime, batch 1, {threads} thread(s), median of {runs}: rfdetr.c graph {med[0]:.1f} ms, "
              f"rfdetr package graph {med[1]:.1f} ms (ours / theirs {med[0] / med[1]:.2f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="nano")
    ap.add_argument("--resolution", type=int, default=0)
    ap.add_argument("--rfdetr", required=True, help="the rfdetr binary")
    ap.add_argument("--out", required=True)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--time", type=int, default=0, help="also time both graphs, N runs each")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    ref_args = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "model_reference.py"),
                "--size", a.size, "--out", a.out, "--no-train", "--batch", "2"]
    if a.resolution:
        ref_args += ["--resolution", str(a.resolution)]
    subprocess.run(ref_args, check=True)
    weights = os.path.join(a.out, a.size + ".safetensors")
    io = load_file(os.path.join(a.out, a.size + "_io.safetensors"))
    images = io["images"].float().numpy()

    ours = os.path.join(a.out, "ours.onnx")
    subprocess.run([a.rfdetr, "export", "--weights", weights, "--out", ours, "--batch", "dynamic"], check=True)

    # The package's export of the same weights.
    torch.set_num_threads(2)
    cfg, model = model_reference.build(a.size, a.resolution)
    _, mc = model_reference.official_config(a.size, a.resolution) if a.size in model_reference.OFFICIAL else (None, None)
    state = load_file(weights)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all("mask" in k for k in missing), (missing, unexpected)
    model.eval()
    res = cfg["resolution"]
    graph = prepare_export_graph(model, mc, shape=(res, res), device="cpu", batch_size=1, dynamic_batch=True)
    theirs_dir = os.path.join(a.out, "theirs")
    theirs = str(OnnxExporter(OnnxConfig(output_dir=theirs_dir, output_name="theirs", verbose=False))(graph))

    failures = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    m_ours, in_ours, out_ours = interface(ours)
    m_theirs, in_theirs, out_theirs = interface(theirs)
    # torch.onnx declares the outputs' non-batch dims symbolic when the batch
    # is dynamic ("Concatdets_dim_1"); ours states them. Same otherwise.
    def compatible(ours_vi, theirs_vi):
        return len(ours_vi) == len(theirs_vi) and all(
            o[0] == t[0] and o[1] == t[1] and len(o[2]) == len(t[2])
            and all(od == td or (isinstance(td, str) and td != "batch" and od != "batch") for od, td in zip(o[2], t[2]))
            for o, t in zip(ours_vi, theirs_vi))

    check(compatible(in_ours, in_theirs), f"inputs: ours {in_ours}, rfdetr's {in_theirs}")
    check(compatible(out_ours, out_theirs), f"outputs: ours {out_ours}, rfdetr's {out_theirs}")
    opset = lambda m: [(o.domain, o.version) for o in m.opset_import]  # noqa: E731
    check(opset(m_ours) == [("", 17)] and ("", 17) in opset(m_theirs),
          f"opset: ours {opset(m_ours)}, rfdetr's {opset(m_theirs)}")

    torch_d, torch_l = io["eval.boxes"].numpy(), io["eval.logits"].numpy()
    for name, path in (("rfdetr.c export", ours), ("rfdetr package export", theirs)):
        d, l = run(path, images)
        de, le = float(np.abs(d - torch_d).max()), float(np.abs(l - torch_l).max())
        check(de <= a.tol and le <= a.tol, f"{name} under ONNX Runtime vs PyTorch eager: dets max abs {de:.3g}, "
              f"labels max abs {le:.3g}")
    d1, l1 = run(ours, images)
    d2, l2 = run(theirs, images)
    check(d1.shape == d2.shape and l1.shape == l2.shape,
          f"output shapes on a batch of {len(images)}: ours {d1.shape} {l1.shape}, rfdetr's {d2.shape} {l2.shape}")
    print(f"     ours vs rfdetr's under ONNX Runtime: dets max abs {float(np.abs(d1 - d2).max()):.3g}, "
          f"labels max abs {float(np.abs(l1 - l2).max()):.3g} (labels up to {float(np.abs(l2).max()):.3g})")

    for name, m, path in (("rfdetr.c", m_ours, ours), ("rfdetr package", m_theirs, theirs)):
        ops = collections.Counter(n.op_type for n in m.graph.node)
        top = ", ".join(f"{k} {v}" for k, v in sorted(ops.items(), key=lambda kv: -kv[1])[:12])
        print(f"     {name}: {len(m.graph.node)} nodes, {len(m.graph.initializer)} initializers, "
              f"{os.path.getsize(path) / 1e6:.1f} MB; {top}")
    only_ours = sorted({n.op_type for n in m_ours.graph.node} - {n.op_type for n in m_theirs.graph.node})
    only_theirs = sorted({n.op_type for n in m_theirs.graph.node} - {n.op_type for n in m_ours.graph.node})
    print(f"     ops only in ours: {only_ours}; only in rfdetr's: {only_theirs}")
    if a.time:
        latency([ours, theirs], images[:1], a.time)
    if failures:
        print(f"export_vs_rfdetr.py: {len(failures)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
