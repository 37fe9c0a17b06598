#!/usr/bin/env python3
"""Baseline of bench_train: one RF-DETR training step on the CPU with
PyTorch eager, on the rfdetr package's own model and criterion.

  train_python_time.py SIZE RESOLUTION BATCH [--steps N] [--threads T]

Builds SIZE offline (random initialisation), and times full optimizer steps
on a fixed batch: forward in training mode (every query group), RF-DETR's
SetCriterion (IoU-aware BCE, L1, GIoU on the final, auxiliary and encoder
heads, Hungarian matching with scipy), backward, clip_grad_norm_(0.1), AdamW
and an EMA update of every parameter — the same work rfdetr.c's bench_train
times. Targets come from the same formula as bench_train's: image i holds
(i % 4) + 1 boxes. Prints one JSON line {"torch_ms": [...], "threads": T}.
Exit 77 when torch or rfdetr cannot be imported."""
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

    import model_reference as ref
    from rfdetr.models.criterion import SetCriterion
    from rfdetr.models.matcher import HungarianMatcher
except SystemExit:
    raise
except Exception as e:  # noqa: BLE001
    print(f"train_python_time.py: skipped ({e})", file=sys.stderr)
    sys.exit(77)


def targets_for(batch, classes):
    """The boxes bench_train.c builds: image i has (i % 4) + 1 boxes."""
    out = []
    for i in range(batch):
        n = i % 4 + 1
        boxes, labels = [], []
        for j in range(n):
            boxes.append([0.2 + 0.15 * j, 0.3 + 0.1 * ((i + j) % 3), 0.1 + 0.05 * j, 0.12 + 0.02 * (i % 5)])
            labels.append((i + j) % classes)
        out.append({"boxes": torch.tensor(boxes), "labels": torch.tensor(labels, dtype=torch.int64)})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("size")
    ap.add_argument("resolution", type=int)
    ap.add_argument("batch", type=int)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    cfg, model = ref.build(a.size, a.resolution)
    model.train()
    classes = cfg["num_classes"]
    groups = cfg["group_detr"]
    weight_dict = {}
    for suffix in [""] + [f"_{i}" for i in range(cfg["dec_layers"] - 1)] + ["_enc"]:
        weight_dict.update({"loss_ce" + suffix: 1.0, "loss_bbox" + suffix: 5.0, "loss_giou" + suffix: 2.0})
    matcher = HungarianMatcher(cost_class=2, cost_bbox=5, cost_giou=2, focal_alpha=0.25)
    crit = SetCriterion(classes, matcher, weight_dict, focal_alpha=0.25, losses=["labels", "boxes"],
                        group_detr=groups, ia_bce_loss=True)
    crit.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
    ema = [p.detach().clone() for p in model.parameters()]
    images = torch.randn(a.batch, 3, a.resolution, a.resolution)
    targets = targets_for(a.batch, classes)

    def step():
        outputs = model(images)
        losses = crit(outputs, targets)
        total = sum(losses[k] * w for k, w in weight_dict.items() if k in losses)
        opt.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema, model.parameters()):
                e.lerp_(p, 0.007)

    step()  # warm-up
    times = []
    for _ in range(a.steps):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000.0)
    print(json.dumps({"torch_ms": times, "threads": a.threads, "size": a.size, "batch": a.batch}))


if __name__ == "__main__":
    main()
