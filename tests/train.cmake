# Training: matcher, criterion, trainer.
rfdetr_add_test(test_matcher SOURCES test_matcher.c LABELS fast)
rfdetr_add_test(test_matcher_rfdetr SOURCES test_matcher.c ARGS --python 11 LABELS fast)
rfdetr_add_test(test_criterion SOURCES test_criterion.c LABELS fast)
rfdetr_add_test(test_criterion_rfdetr SOURCES test_criterion.c ARGS --python 17 LABELS fast)
rfdetr_add_test(test_train_layout SOURCES test_train.c ARGS layout LABELS fast TIMEOUT 900)
rfdetr_add_test(test_train_resume SOURCES test_train.c ARGS resume LABELS fast TIMEOUT 900)
rfdetr_add_test(test_train_devices SOURCES test_train.c ARGS devices LABELS fast TIMEOUT 900)
rfdetr_add_test(test_train_faults SOURCES test_train.c ARGS faults LABELS fast TIMEOUT 900)
