# COCO JSON reader (data/coco_json.c): values, ids, bad input, results files.
rfdetr_add_test(test_coco_json SOURCES test_coco_json.c LABELS fast TIMEOUT 120)
