#!/usr/bin/env python3
"""pycocotools as the oracle for rfdetr.c's COCO evaluator (test tooling only:
the product never needs Python).

    oracle.py expected            rewrite tests/eval/expected.h from pycocotools
    oracle.py check BUILD_DIR     recompute with pycocotools now and compare with
                                  BUILD_DIR/rfdetr eval --json (exit 77 when
                                  pycocotools is not importable)

The cases: every pair in ../shared/coco_fixtures/ and every pair in
tests/data/eval/ (tests/eval/make_cases.py), each with several maxDets.
The per-class metrics follow RF-DETR's coco_extended_metrics (re-derived
here from its semantics: per-class AP as nanmean over recall then IoU;
precision / recall / F1 at IoU .50, area all, at the first confidence of
linspace(0, 1, 101) maximizing the macro F1 over classes with GT). Classes
without GT get -1 (RF-DETR drops them from its table)."""
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TOLERANCE = 1e-12
DEFAULT = (1, 10, 100)
RFDETR = (1, 10, 500)
SMALL = (1, 3, 5)
EXTRA_VARIANTS = {"many_detections": [SMALL], "random_stress": [SMALL], "score_ties": [SMALL],
                  "cocoapi_val2014_fake100": [SMALL]}


def cases():
    """(name, gt path, dt path, max_dets) relative to the repo root."""
    out = []
    for base in ("../shared/coco_fixtures", "tests/data/eval"):
        folder = os.path.join(REPO, base)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            gt = os.path.join(base, name, "gt.json")
            if not os.path.exists(os.path.join(REPO, gt)):
                continue
            for max_dets in [DEFAULT, RFDETR] + EXTRA_VARIANTS.get(name, []):
                out.append((name, gt, os.path.join(base, name, "dt.json"), max_dets))
    return out


def pycocotools_eval(gt_path, dt_path, max_dets):
    import numpy as np
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(os.path.join(REPO, gt_path))
        with open(os.path.join(REPO, dt_path)) as f:
            dets = json.load(f)
        if not dets:
            # pycocotools cannot load an empty list; one detection of a category
            # the GT lacks is ignored by the evaluation and gives the same numbers.
            absent = max(gt.getCatIds() or [0]) + 1000
            dets = [{"image_id": gt.getImgIds()[0], "category_id": absent, "bbox": [0, 0, 1, 1], "score": 1.0}]
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.params.maxDets = list(max_dets)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [float(x) for x in ev.stats]
    # RF-DETR's patched summarize: AP@[.5:.95] at maxDets[2], not a hard-coded 100.
    s = ev.eval["precision"][:, :, :, 0, 2]
    stats[0] = float(np.mean(s[s > -1])) if (s > -1).any() else -1.0
    return ev, stats


def rfdetr_class_metrics(ev):
    import numpy as np

    p = ev.params
    t50 = int(np.argwhere(np.isclose(p.iouThrs, 0.5)).item())
    area_all = list(p.areaRng[0])
    per_image = {}
    for e in ev.evalImgs:
        if e is not None and list(e["aRng"]) == area_all:
            per_image[(e["category_id"], e["image_id"])] = e
    classes = []
    for cat in p.catIds:
        scores, matched, ignored, total, count = [], [], [], 0, 0
        for img in p.imgIds:
            e = per_image.get((cat, img))
            if e is None:
                continue
            total += int(np.sum(np.asarray(e["gtIgnore"]) == 0))
            count += len(e["dtIds"])
            scores += list(e["dtScores"])
            matched += list(e["dtMatches"][t50] != 0)
            ignored += list(e["dtIgnore"][t50].astype(bool))
        classes.append((np.array(scores, dtype=float), np.array(matched, dtype=bool), np.array(ignored, dtype=bool),
                        total, count))
    thresholds = np.linspace(0.0, 1.0, 101)
    with_gt = [k for k, c in enumerate(classes) if c[3] > 0]
    sweep = []
    for c in thresholds:
        rows = []
        for scores, matched, ignored, total, _ in classes:
            counted = (scores >= c) & ~ignored
            tp = int(np.sum(counted & matched))
            fp = int(np.sum(counted & ~matched))
            precision = tp / (tp + fp) if tp + fp > 0 else 0.0
            recall = tp / total if total > 0 else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
            rows.append((precision, recall, f1))
        macro = [float(np.mean([rows[k][j] for k in with_gt])) if with_gt else 0.0 for j in range(3)]
        sweep.append((float(c), macro, rows))
    best = sweep[0]
    for entry in sweep[1:]:
        if entry[1][2] > best[1][2]:
            best = entry
    per_class = []
    for k, cat in enumerate(p.catIds):
        total = classes[k][3]
        row = {"id": int(cat), "gt_boxes": total, "detections": classes[k][4]}
        if total == 0:
            row.update(ap=-1.0, ap50=-1.0, precision=-1.0, recall=-1.0, f1=-1.0)
        else:
            curve = ev.eval["precision"][:, :, k, 0, 2]
            masked = np.where(curve > -1, curve, np.nan)
            per_iou = np.nanmean(masked, axis=1)
            row.update(ap=float(np.nanmean(per_iou)), ap50=float(np.nanmean(masked[t50])),
                       precision=float(best[2][k][0]), recall=float(best[2][k][1]), f1=float(best[2][k][2]))
        per_class.append(row)
    return {"f1_threshold": best[0], "precision": best[1][0], "recall": best[1][1], "f1": best[1][2],
            "per_class": per_class}


def oracle(gt_path, dt_path, max_dets):
    ev, stats = pycocotools_eval(gt_path, dt_path, max_dets)
    result = rfdetr_class_metrics(ev)
    result["stats"] = stats
    return result


def c_double(x):
    return float(x).hex()


def write_expected():
    lines = [
        "/* expected.h — written by tests/eval/oracle.py from pycocotools %s and numpy %s; do not edit.",
        " * Doubles in hexadecimal: the exact bits pycocotools computed. */",
        "#ifndef RFDETR_TESTS_EVAL_EXPECTED_H",
        "#define RFDETR_TESTS_EVAL_EXPECTED_H",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "",
        "typedef struct expected_class {",
        "    int64_t id;",
        "    size_t gt_boxes, detections;",
        "    double ap, ap50, precision, recall, f1;",
        "} expected_class;",
        "",
        "typedef struct expected_case {",
        "    const char *name, *gt, *dt;",
        "    int max_dets[3];",
        "    double stats[12];",
        "    double f1_threshold, precision, recall, f1;",
        "    size_t class_count;",
        "    const expected_class *classes;",
        "} expected_case;",
        "",
    ]
    import numpy
    import pycocotools

    lines[0] = lines[0] % (getattr(pycocotools, "__version__", "?"), numpy.__version__)
    entries = []
    tables = {}  # identical per-class tables (often across maxDets) are written once
    for name, gt, dt, max_dets in cases():
        r = oracle(gt, dt, max_dets)
        rows = ["    {%d, %d, %d, %s, %s, %s, %s, %s}," % (
            c["id"], c["gt_boxes"], c["detections"], c_double(c["ap"]), c_double(c["ap50"]),
            c_double(c["precision"]), c_double(c["recall"]), c_double(c["f1"])) for c in r["per_class"]]
        rows = rows or ["    {0, 0, 0, 0, 0, 0, 0, 0},"]
        key = "\n".join(rows)
        if key not in tables:
            tables[key] = "expected_classes_%d" % len(tables)
            lines.append("static const expected_class %s[] = {" % tables[key])
            lines += rows
            lines.append("};")
        entries.append('    {"%s", "%s", "%s", {%d, %d, %d},\n     {%s},\n     %s, %s, %s, %s, %d, %s},' % (
            name, gt, dt, max_dets[0], max_dets[1], max_dets[2], ", ".join(c_double(s) for s in r["stats"]),
            c_double(r["f1_threshold"]), c_double(r["precision"]), c_double(r["recall"]), c_double(r["f1"]),
            len(r["per_class"]), tables[key]))
        print("%-26s maxDets %-13s AP %.4f AR100 %.4f" % (name, "%d,%d,%d" % max_dets, r["stats"][0], r["stats"][8]))
    # numpy's own thresholds and pairwise sums, so the C side checks its
    # replicas of np.linspace and np.sum bit for bit.
    lines.append("")
    lines.append("static const double expected_iou_thresholds[] = {%s};" % ", ".join(
        c_double(x) for x in numpy.linspace(.5, 0.95, int(numpy.round((0.95 - .5) / .05)) + 1, endpoint=True)))
    lines.append("static const double expected_recall_thresholds[] = {%s};" % ", ".join(
        c_double(x) for x in numpy.linspace(.0, 1.00, int(numpy.round((1.00 - .0) / .01)) + 1, endpoint=True)))
    lines.append("/* np.sum(pairwise_values(n)) with pairwise_values(n)[i] = ((i * 7919) %% 1000 / 997.0) * 10.0 ** (i %% 7 - 3) */")
    lines.append("static const struct { size_t n; double sum; } expected_pairwise_sums[] = {")
    for n in (0, 1, 7, 8, 9, 15, 16, 17, 127, 128, 129, 255, 1000, 80800):
        values = numpy.array([((i * 7919) % 1000 / 997.0) * 10.0 ** (i % 7 - 3) for i in range(n)], dtype=numpy.float64)
        lines.append("    {%d, %s}," % (n, c_double(numpy.sum(values))))
    lines.append("};")
    lines.append("")
    lines.append("static const expected_case expected_cases[] = {")
    lines += entries
    lines.append("};")
    lines.append("")
    lines.append("#endif")
    path = os.path.join(REPO, "tests", "eval", "expected.h")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", path)


def check(build_dir):
    try:
        import numpy  # noqa: F401
        import pycocotools  # noqa: F401
    except ImportError as e:
        print("test_eval_pycocotools: skipped: python3 cannot import pycocotools and numpy (%s); "
              "to run it: pip install pycocotools numpy" % e)
        return 77
    rfdetr = os.path.join(build_dir, "rfdetr")
    passed = failed = 0
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name, gt, dt, max_dets in cases():
            want = oracle(gt, dt, max_dets)
            out = os.path.join(tmp, "eval.json")
            run = subprocess.run([rfdetr, "eval", "--gt", gt, "--dt", dt, "--max-dets", "%d,%d,%d" % max_dets,
                                  "--json", out], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 text=True)
            label = "%s maxDets %d,%d,%d" % ((name,) + max_dets)
            if run.returncode != 0:
                print("FAIL %s: rfdetr eval exited %d: %s" % (label, run.returncode, run.stderr.strip()))
                failed += 1
                continue
            with open(out) as f:
                got = json.load(f)
            problems = []
            for i, (a, b) in enumerate(zip(got["stats"], want["stats"])):
                worst = max(worst, abs(a - b))
                if abs(a - b) > TOLERANCE:
                    problems.append("stats[%d] %.17g != pycocotools %.17g" % (i, a, b))
            for key in ("f1_threshold", "precision", "recall", "f1"):
                if abs(got[key] - want[key]) > TOLERANCE:
                    problems.append("%s %.17g != %.17g" % (key, got[key], want[key]))
            if len(got["per_class"]) != len(want["per_class"]):
                problems.append("%d classes != %d" % (len(got["per_class"]), len(want["per_class"])))
            for g, w in zip(got["per_class"], want["per_class"]):
                for key in ("id", "gt_boxes", "detections"):
                    if g[key] != w[key]:
                        problems.append("class %s: %s %s != %s" % (w["id"], key, g[key], w[key]))
                for key in ("ap", "ap50", "precision", "recall", "f1"):
                    worst = max(worst, abs(g[key] - w[key]))
                    if abs(g[key] - w[key]) > TOLERANCE:
                        problems.append("class %s: %s %.17g != %.17g" % (w["id"], key, g[key], w[key]))
            if problems:
                failed += 1
                print("FAIL %s:\n  %s" % (label, "\n  ".join(problems[:20])))
            else:
                passed += 1
    print("oracle: largest |difference| from pycocotools: %.3g (tolerance %g)" % (worst, TOLERANCE))
    print("test_eval_pycocotools: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "expected":
        write_expected()
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "check":
        return check(os.path.abspath(sys.argv[2]))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
