#!/usr/bin/env python3
"""Writes the evaluator's own edge cases to tests/data/eval/<case>/{gt,dt}.json.

Each case isolates one rule of pycocotools' COCOeval that an evaluator can get
subtly wrong; tests/eval/oracle.py computes the expected numbers with
pycocotools. Deterministic: run it again and the files are byte-identical.
    python3 tests/eval/make_cases.py
"""
import json
import os
import random

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "eval")


def image(i, w=640, h=480):
    return {"id": i, "file_name": "%06d.jpg" % i, "width": w, "height": h}


def ann(aid, img, cat, box, area=None, crowd=0):
    return {"id": aid, "image_id": img, "category_id": cat, "bbox": box,
            "area": box[2] * box[3] if area is None else area, "iscrowd": crowd}


def det(img, cat, box, score):
    return {"image_id": img, "category_id": cat, "bbox": box, "score": score}


def cats(*ids):
    return [{"id": c, "name": "class%d" % c, "supercategory": "thing"} for c in ids]


def jitter(rng, box, f=0.1):
    x, y, w, h = box
    return [round(x + rng.uniform(-f, f) * w, 2), round(y + rng.uniform(-f, f) * h, 2),
            round(w * rng.uniform(1 - f, 1 + f), 2), round(h * rng.uniform(1 - f, 1 + f), 2)]


def crowd():
    """Crowd regions: IoU = intersection / detection area, several detections
    may match one crowd region, a crowd region is never a miss, and a
    category whose only GT is a crowd region has no AP (-1)."""
    gt = {"images": [image(1), image(2)], "categories": cats(1, 2), "annotations": [
        ann(1, 1, 1, [0, 0, 300, 300], crowd=1),
        ann(2, 1, 1, [10, 10, 50, 50]),
        ann(3, 1, 1, [400, 100, 100, 120]),
        ann(4, 2, 1, [100, 100, 40, 40], crowd=1, area=5000),
        ann(5, 2, 1, [300, 300, 20, 20]),
        ann(6, 1, 2, [50, 50, 200, 200], crowd=1)]}
    dt = [det(1, 1, [12, 12, 48, 50], 0.9), det(1, 1, [20, 20, 30, 30], 0.8), det(1, 1, [100, 100, 60, 60], 0.85),
          det(1, 1, [150, 150, 100, 100], 0.7), det(1, 1, [250, 250, 100, 100], 0.6), det(1, 1, [402, 98, 98, 125], 0.5),
          det(2, 1, [100, 100, 40, 40], 0.95), det(2, 1, [110, 110, 10, 10], 0.4), det(2, 1, [301, 300, 20, 21], 0.3),
          det(1, 2, [60, 60, 50, 50], 0.9), det(1, 2, [0, 0, 20, 20], 0.2)]
    return gt, dt


def score_ties():
    """Equal scores within and across images: the order is image order, then
    file order (stable sorts), which decides the precision curve."""
    rng = random.Random(5)
    images, anns, dets = [], [], []
    aid = 1
    for i in [7, 3, 11, 5]:
        images.append(image(i))
        for j in range(4):
            box = [50.0 + 100 * j, 60.0 + 20 * j, 40.0 + 5 * j, 50.0]
            anns.append(ann(aid, i, 1 + j % 2, box))
            aid += 1
            dets.append(det(i, 1 + j % 2, jitter(rng, box, 0.2) if j % 3 else [0, 0, 10, 10], 0.5))
            dets.append(det(i, 1 + j % 2, jitter(rng, box, 0.05), 0.5 if j % 2 else 0.75))
        dets.append(det(i, 1, [300, 300, 30, 30], 0.75))
    return {"images": images, "categories": cats(1, 2), "annotations": anns}, dets


def area_bounds():
    """GT areas exactly 32^2 and 96^2 (and 0, 1e10, and the doubles next to
    the bounds) fall in both neighbouring ranges; detection areas on the
    bounds likewise decide whether an unmatched detection is ignored."""
    b = [0.0, 1023.9999999999999, 1024.0, 1024.0000000000002, 9215.999999999998, 9216.0, 9216.000000000002,
         1e10, 1e10 * (1 + 2 ** -52)]
    images = [image(i) for i in range(1, 4)]
    anns, dets = [], []
    for n, area in enumerate(b):
        box = [10.0 + 60 * n, 10.0, 32.0, 32.0]
        anns.append(ann(n + 1, 1 + n % 3, 1, box, area=area))
        dets.append(det(1 + n % 3, 1, [box[0] + 1, box[1], 32.0, 31.0], 0.9 - 0.05 * n))
    # unmatched detections whose own area (w*h) sits on a bound
    for n, (w, h) in enumerate([(32, 32), (96, 96), (32, 32.000000000000007), (1, 1024), (96, 96.00000000000001)]):
        dets.append(det(1 + n % 3, 1, [400.0, 300.0, float(w), float(h)], 0.5 + 0.01 * n))
    return {"images": images, "categories": cats(1), "annotations": anns}, dets


def images_without_gt():
    """Images with detections but no GT (all false positives), images with
    neither (skipped), a category without any GT (-1)."""
    gt = {"images": [image(i) for i in (1, 2, 3, 4)], "categories": cats(1, 2, 3), "annotations": [
        ann(1, 1, 1, [10, 10, 100, 100]), ann(2, 1, 2, [200, 200, 50, 50]), ann(3, 2, 1, [20, 20, 40, 40])]}
    dt = [det(1, 1, [12, 11, 99, 100], 0.9), det(2, 1, [20, 22, 40, 39], 0.6), det(3, 1, [5, 5, 30, 30], 0.95),
          det(3, 2, [5, 5, 300, 300], 0.8), det(1, 2, [201, 199, 50, 52], 0.7),
          det(3, 3, [1, 1, 10, 10], 0.9), det(1, 3, [10, 10, 100, 100], 0.3)]
    return gt, dt


def absent_categories():
    """Detections of categories the GT does not list are ignored, even with
    boxes that would match; the GT category list decides the classes, in
    ascending id order whatever the file order."""
    gt = {"images": [image(1), image(2)], "categories": cats(9, 4, 6), "annotations": [
        ann(1, 1, 4, [10, 10, 100, 100]), ann(2, 2, 9, [50, 50, 60, 60]), ann(3, 2, 4, [300, 200, 80, 40]),
        ann(4, 1, 5, [10, 10, 100, 100])]}
    dt = [det(1, 4, [10, 10, 100, 100], 0.9), det(1, 5, [10, 10, 100, 100], 0.99), det(2, 1, [50, 50, 60, 60], 0.9),
          det(2, 9, [52, 50, 60, 60], 0.4), det(2, 4, [300, 200, 80, 41], 0.2), det(2, 6, [0, 0, 5, 5], 0.1)]
    return gt, dt


def many_detections():
    """More detections per image and category than maxDets: each image keeps
    its best max_dets[-1] by score, AR@1/@10 cut further."""
    rng = random.Random(11)
    images, anns, dets = [], [], []
    aid = 1
    for i in range(1, 6):
        images.append(image(i))
        boxes = []
        for j in range(12):
            box = [round(rng.uniform(0, 500), 1), round(rng.uniform(0, 350), 1), round(rng.uniform(8, 140), 1),
                   round(rng.uniform(8, 140), 1)]
            boxes.append(box)
            anns.append(ann(aid, i, 1 + j % 2, box))
            aid += 1
        for j in range(130):
            if j < 24:
                box = jitter(rng, boxes[j % 12], 0.15)
                cat = 1 + (j % 12) % 2
            else:
                box = [round(rng.uniform(0, 500), 1), round(rng.uniform(0, 350), 1), round(rng.uniform(4, 200), 1),
                       round(rng.uniform(4, 200), 1)]
                cat = 1 + j % 2
            dets.append(det(i, cat, box, round(rng.uniform(0, 1), 3)))
    return {"images": images, "categories": cats(1, 2), "annotations": anns}, dets


def pycocotools_quirks():
    """pycocotools stores a match as the GT's id, so a GT with id 0 never
    yields a true positive; repeated GT ids make every one of them the last
    annotation with that id; equal IoUs go to the later GT."""
    gt = {"images": [image(1), image(2)], "categories": cats(1, 2), "annotations": [
        ann(0, 1, 1, [10, 10, 100, 100]),
        ann(5, 1, 1, [300, 300, 50, 50]),
        ann(5, 2, 2, [20, 20, 60, 60]),
        ann(7, 2, 1, [100, 100, 40, 40]),
        ann(8, 2, 1, [140, 100, 40, 40]),
        ann(9, 1, 2, [0, 0, 10, 10])]}
    dt = [det(1, 1, [10, 10, 100, 100], 0.9), det(1, 1, [300, 300, 50, 50], 0.8), det(2, 2, [20, 20, 60, 60], 0.7),
          det(2, 1, [120, 100, 40, 40], 0.6), det(2, 1, [120, 100, 40, 40], 0.5), det(1, 2, [0, 0, 10, 11], 0.4)]
    return gt, dt


def empty_detections():
    """No detections at all (pycocotools' loadRes crashes on an empty list)."""
    gt, _ = images_without_gt()
    return gt, []


def random_stress():
    """Everything at once, at random: crowds, every size, coarse scores with
    many ties, zero-size boxes, unsorted and repeated ids, images and
    categories without GT, detections of unknown categories."""
    rng = random.Random(2024)
    image_ids = rng.sample(range(1, 400), 60) + [17]  # 17 twice: pycocotools keeps one
    images = [image(i, rng.randint(200, 800), rng.randint(200, 800)) for i in image_ids]
    categories = cats(*rng.sample(range(0, 30), 12))
    cat_ids = [c["id"] for c in categories]
    anns, dets = [], []
    aid = 100
    for img in images[:50]:
        for _ in range(rng.randint(0, 9)):
            s = rng.choice([4, 12, 31, 32, 33, 60, 95, 96, 97, 200, 400])
            box = [round(rng.uniform(0, img["width"] - 1), 2), round(rng.uniform(0, img["height"] - 1), 2),
                   round(s * rng.uniform(0.5, 1.5), 2), round(s * rng.uniform(0.5, 1.5), 2)]
            cat = rng.choice(cat_ids[:10])
            crowd_flag = 1 if rng.random() < 0.07 else 0
            area = box[2] * box[3] * rng.choice([1, 1, 0.7, 0.5])
            anns.append(ann(aid, img["id"], cat, box, area=area, crowd=crowd_flag))
            aid += rng.choice([1, 1, 1, 2])
            for _ in range(rng.choice([0, 1, 1, 2, 3])):
                dets.append(det(img["id"], cat if rng.random() < 0.85 else rng.choice(cat_ids), jitter(rng, box, 0.25),
                                round(rng.random(), 1)))
        for _ in range(rng.randint(0, 25)):
            w, h = rng.choice([(0, 10), (10, 0), (1, 1)] + [(round(rng.uniform(1, 300), 1), round(rng.uniform(1, 300), 1))] * 6)
            dets.append(det(img["id"], rng.choice(cat_ids + [99]), [round(rng.uniform(0, 500), 1), round(rng.uniform(0, 500), 1), w, h],
                            round(rng.random() * 0.6, 1)))
    for img in images[50:56]:
        dets.append(det(img["id"], rng.choice(cat_ids), [10, 10, 50, 50], 0.5))
    rng.shuffle(anns)
    rng.shuffle(dets)
    return {"images": images, "categories": categories, "annotations": anns}, dets


CASES = {
    "crowd": crowd, "score_ties": score_ties, "area_bounds": area_bounds, "images_without_gt": images_without_gt,
    "absent_categories": absent_categories, "many_detections": many_detections,
    "pycocotools_quirks": pycocotools_quirks, "empty_detections": empty_detections, "random_stress": random_stress,
}


def main():
    for name, make in CASES.items():
        gt, dt = make()
        folder = os.path.join(ROOT, name)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "gt.json"), "w") as f:
            json.dump(gt, f, indent=None)
            f.write("\n")
        with open(os.path.join(folder, "dt.json"), "w") as f:
            f.write("[" + ",\n ".join(json.dumps(d) for d in dt) + "]\n")
        print("%-20s %3d images %4d annotations %5d detections" % (name, len(gt["images"]), len(gt["annotations"]), len(dt)))


if __name__ == "__main__":
    main()
