# Losses, optimizer, EMA, random fills and the training-loop check (issue 3).
rfdetr_add_test(test_random SOURCES test_random.c LABELS fast)
