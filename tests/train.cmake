# Training: matcher, criterion, trainer.
rfdetr_add_test(test_matcher SOURCES test_matcher.c LABELS fast)
rfdetr_add_test(test_matcher_rfdetr SOURCES test_matcher.c ARGS --python 11 LABELS fast)
rfdetr_add_test(test_criterion SOURCES test_criterion.c LABELS fast)
rfdetr_add_test(test_criterion_rfdetr SOURCES test_criterion.c ARGS --python 17 LABELS fast)
