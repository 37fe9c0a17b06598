# `rfdetr predict` as a user runs it (issues 13 and 15): folders, patterns and
# COCO image ids, progress, the console's boxes, label order on the pictures.
rfdetr_add_test(test_annotate SOURCES test_annotate.c LABELS fast TIMEOUT 60)
rfdetr_add_test(test_predict_inputs SOURCES test_predict_inputs.c LABELS fast TIMEOUT 600)
add_dependencies(test_predict_inputs rfdetr)
