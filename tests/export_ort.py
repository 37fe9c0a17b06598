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
    there (tests/fixtures/model/micro_io.safetensors: RF-DETR's own modules);
  * with --image-u8 and --predict-json: `rfdetr predict --threshold 0` on an
    R x R image (so its resize is the identity) against the graph's outputs
    decoded as docs/export.md says (sigmoid, top 300 of queries x classes,
    corner boxes in pixels): the same scores and, for every detection, a
    decoded one of the same class with score and box (divided by the image
    side) within --tol.

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


def decode(dets, labels, width, height, num_select=300):
    """docs/export.md's decoding (RF-DETR's PostProcess) of one image."""
    scores = 1.0 / (1.0 + np.exp(-labels.astype(np.float64)))
    flat = np.argsort(-scores.ravel(), kind="stable")[:min(num_select, scores.size)]
    query, class_id = np.divmod(flat, scores.shape[1])
    cx, cy, w, h = dets[query].astype(np.float64).T
    boxes = np.stack([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height], 1)
    return scores.ravel()[flat], class_id, boxes.clip(0, [width, height, width, height])


def check_predict(a, sess, check):
    import json
    r = a.resolution
    u8 = np.fromfile(a.image_u8, dtype=np.uint8).reshape(r, r, 3)
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    x = ((u8.astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)
    if a.batch_dim != "batch":  # a graph of fixed batch N takes N images: the same one N times
        x = np.repeat(x, int(a.batch_dim), axis=0)
    dets, labels = sess.run(["dets", "labels"], {"input": x})
    scores, class_id, boxes = decode(dets[0], labels[0], r, r, a.num_select)
    # rfdetr predict writes an inverted box (a query whose reference box has
    # a negative side) as an empty one, as evaluation counts it.
    boxes[:, 2] = np.maximum(boxes[:, 2], boxes[:, 0])
    boxes[:, 3] = np.maximum(boxes[:, 3], boxes[:, 1])
    with open(a.predict_json) as f:
        pred = json.load(f)
    p_scores = np.array([d["score"] for d in pred])
    p_class = np.array([d["category_id"] for d in pred])
    p_boxes = np.array([[d["bbox"][0], d["bbox"][1], d["bbox"][0] + d["bbox"][2], d["bbox"][1] + d["bbox"][3]]
                        for d in pred])
    check(len(pred) == len(scores), f"rfdetr predict: {len(pred)} detections, decoded graph {len(scores)}")
    if len(pred) != len(scores):
        return
    s_err = float(np.abs(np.sort(p_scores) - np.sort(scores)).max())
    check(s_err <= a.tol, f"scores vs rfdetr predict (sorted): max abs {s_err:.3g}")
    # Pairs whose scores tie within rounding may swap places, and at the
    # 300th place one may replace the other: match by class, score and box.
    cutoff = scores.min()
    worst, unmatched = 0.0, 0
    for sc, c, b in zip(p_scores, p_class, p_boxes):
        same = class_id == c
        err = np.maximum(np.abs(scores[same] - sc), np.abs(boxes[same] - b).max(1) / r) if same.any() else np.array([1])
        best = float(err.min())
        if best > a.tol and sc - cutoff > 1e-5:
            unmatched += 1
        else:
            worst = max(worst, best if best <= a.tol else 0.0)
    check(unmatched == 0, f"rfdetr predict's detections in the decoded graph's: {len(pred) - unmatched} of {len(pred)}, "
          f"score and box (/ image side) within max abs {worst:.3g}")


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
    ap.add_argument("--image-u8", help="R x R x 3 RGB bytes")
    ap.add_argument("--predict-json", help="rfdetr predict --json of that image")
    ap.add_argument("--num-select", type=int, default=300, help="the model's post-process top-k (RF-DETR: 300)")
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

    if a.image_u8:
        check_predict(a, sess, check)

    if failures:
        print(f"export_ort.py: {len(failures)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
