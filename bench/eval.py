#!/usr/bin/env python3
"""bench/eval.py BUILD_DIR [RUNS] — COCO bbox evaluation speed on a
COCO-val-sized generated case (5,000 images, 36,000 GT boxes, 100 detections
per image, 80 categories): rfdetr.c (1 thread and every CPU) against
pycocotools and faster-coco-eval, measured in this same run, ratios printed.

Each tool is timed from files to the 12 stats: loading the GT and the
results file, evaluate, accumulate, summarize. Baselines run in this Python
process (their load is Python's json module); ours runs as a process per
measurement (bench_eval_rfdetr). Every time is the median of RUNS (3).
The stats of every tool are compared too."""
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time


def generate(build):
    data = os.path.join(build, "bench-data")
    os.makedirs(data, exist_ok=True)
    gt, dt = os.path.join(data, "coco_val_like_gt.json"), os.path.join(data, "coco_val_like_dt.json")
    if not (os.path.exists(gt) and os.path.exists(dt)):
        subprocess.run([os.path.join(build, "bench_coco_generate"), gt, "--images", "5000", "--annotations", "36000",
                        "--categories", "80", "--dt", dt, "--dets-per-image", "100", "--seed", "7"], check=True)
    return gt, dt


def time_python(module, gt_path, dt_path):
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        t0 = time.perf_counter()
        if module == "pycocotools":
            from pycocotools.coco import COCO
            from pycocotools.cocoeval import COCOeval as Eval
        else:
            from faster_coco_eval import COCO
            from faster_coco_eval import COCOeval_faster as Eval
        gt = COCO(gt_path)
        t1 = time.perf_counter()
        dt = gt.loadRes(dt_path)
        t2 = time.perf_counter()
        ev = Eval(gt, dt, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        t3 = time.perf_counter()
    return {"load_gt": t1 - t0, "load_dt": t2 - t1, "evaluate": t3 - t2, "total": t3 - t0,
            "stats": [float(x) for x in ev.stats]}


def time_rfdetr(build, gt_path, dt_path, threads):
    out = subprocess.run([os.path.join(build, "bench_eval_rfdetr"), gt_path, dt_path, str(threads)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def median_of(runs, fn):
    results = [fn() for _ in range(runs)]
    merged = {k: statistics.median(r[k] for r in results) for k in ("load_gt", "load_dt", "evaluate", "total")}
    merged["stats"] = results[0]["stats"]
    return merged


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    gt, dt = generate(build)
    print("case: %s (%.1f MB) + %s (%.1f MB)" % (gt, os.path.getsize(gt) / 1e6, dt, os.path.getsize(dt) / 1e6))
    tools = {}
    tools["rfdetr.c, 1 thread"] = median_of(runs, lambda: time_rfdetr(build, gt, dt, 1))
    tools["rfdetr.c, %d threads" % os.cpu_count()] = median_of(runs, lambda: time_rfdetr(build, gt, dt, 0))
    for module in ("faster_coco_eval", "pycocotools"):
        try:
            tools[module] = median_of(runs if module != "pycocotools" else 1, lambda: time_python(module, gt, dt))
        except ImportError as e:
            print("%s not importable (%s): no baseline" % (module, e))
    ours = tools["rfdetr.c, %d threads" % os.cpu_count()]
    print("\nmedian seconds (pycocotools: 1 run)     load GT  load DT  evaluate    total   total vs ours  evaluate vs ours")
    for name, r in tools.items():
        print("%-36s %8.3f %8.3f %9.3f %8.3f %12.1fx %14.1fx" % (
            name, r["load_gt"], r["load_dt"], r["evaluate"], r["total"], r["total"] / ours["total"],
            r["evaluate"] / ours["evaluate"]))
    if "pycocotools" in tools:
        reference = tools["pycocotools"]["stats"]
        for name, r in tools.items():
            diff = max(abs(a - b) for a, b in zip(r["stats"], reference))
            print("%-36s stats vs pycocotools: max |difference| %.3g" % (name, diff))
    print("\nAP %.4f AP50 %.4f AR100 %.4f" % (ours["stats"][0], ours["stats"][1], ours["stats"][8]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
