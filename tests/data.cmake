# Datasets, augmentation, the shapes generator and the loader (issue 4).
rfdetr_add_test(test_philox SOURCES test_philox.c LABELS fast)
rfdetr_add_test(test_image SOURCES test_image.c LABELS fast)
rfdetr_add_test(test_augment SOURCES test_augment.c LABELS fast)
rfdetr_add_test(test_shapes SOURCES test_shapes.c LABELS fast)
rfdetr_add_test(test_shapes_default SOURCES test_shapes.c LABELS slow ARGS --default TIMEOUT 300)
rfdetr_add_test(test_yolo SOURCES test_yolo.c LABELS fast)
rfdetr_add_test(test_dataset SOURCES test_dataset.c LABELS fast)
rfdetr_add_test(test_loader SOURCES test_loader.c LABELS fast)
