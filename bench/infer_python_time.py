#!/usr/bin/env python3
"""Baselines of bench_infer: RF-DETR inference latency with PyTorch (CPU,
eager) and ONNX Runtime (CPU), on the rfdetr package's own model.

  infer_python_time.py SIZE RESOLUTION OUT_DIR [--runs N] [--threads T,...]
                       [--batch B,...]

Builds SIZE offline with random initialisation, writes its weights as
OUT_DIR/<SIZE>.safetensors (with rfdetr.c's configuration metadata, so the
C side runs the very same model), exports it to ONNX as RF-DETR's exporter
does (the model's export mode, opset 17, a dynamic batch axis), and prints
one JSON line: {"torch_ms_t1_b1": [...], "ort_ms_t1_b1": [...], ...} with
per-run latencies after warm-up for every thread count T and batch B.
"ort_ms_*" are null when onnx/onnxruntime cannot be imported; exit 77 when
torch or rfdetr cannot."""
import argparse
import json
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
try:
    import torch
    from safetensors.torch import save_file

    import model_reference as ref
except SystemExit:
    raise
except Exception as e:  # noqa: BLE001
    print(f"infer_python_time.py: skipped ({e})", file=sys.stderr)
    sys.exit(77)


def export_onnx(model, res, path):
    """The model as RF-DETR's exporter writes it (its export mode: tensor
    input, (boxes, logits) outputs), opset 17, any batch."""
    model.export()
    with torch.no_grad():
        torch.onnx.export(model, (torch.randn(1, 3, res, res),), path, input_names=["input"],
                          output_names=["dets", "labels"], opset_version=17, dynamo=False,
                          dynamic_axes={"input": {0: "batch"}, "dets": {0: "batch"}, "labels": {0: "batch"}})


def timed(fn, runs, warmup=3):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000.0)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("size")
    ap.add_argument("resolution", type=int)
    ap.add_argument("out")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", default=str(os.cpu_count() or 1))
    ap.add_argument("--batch", default="1")
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split(",")]
    batches = [int(b) for b in a.batch.split(",")]
    torch.manual_seed(0)
    cfg, model = ref.build(a.size, a.resolution)
    model.eval()
    os.makedirs(a.out, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items() if v.is_floating_point()}
    save_file(state, os.path.join(a.out, a.size + ".safetensors"), metadata=ref.metadata(a.size, cfg))
    res = cfg["resolution"]
    result = {"size": a.size, "resolution": res, "threads": threads, "batch": batches, "torch": torch.__version__}

    with torch.inference_mode():
        for t in threads:
            torch.set_num_threads(t)
            for b in batches:
                x = torch.randn(b, 3, res, res)
                result[f"torch_ms_t{t}_b{b}"] = timed(lambda: model(x), a.runs)

    try:
        import onnxruntime as ort

        path = os.path.join(a.out, a.size + ".onnx")
        export_onnx(model, res, path)
        result["onnxruntime"] = ort.__version__
        for t in threads:
            so = ort.SessionOptions()
            so.intra_op_num_threads = t
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
            for b in batches:
                feed = {"input": torch.randn(b, 3, res, res).numpy()}
                result[f"ort_ms_t{t}_b{b}"] = timed(lambda: sess.run(None, feed), a.runs)
    except Exception as e:  # noqa: BLE001 - report, keep the torch numbers
        result["ort_error"] = str(e)[:300]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
