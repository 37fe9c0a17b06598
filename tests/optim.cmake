# Losses, optimizer, EMA, random fills and the training-loop check (issue 3);
# the *_torch twins compare with PyTorch and skip where it cannot be imported.
rfdetr_add_test(test_random SOURCES test_random.c LABELS fast)
rfdetr_add_test(test_ops_loss SOURCES test_ops_loss.c LABELS fast)
rfdetr_add_test(test_ops_loss_torch SOURCES test_ops_loss.c ARGS --torch LABELS fast torch TIMEOUT 300)
rfdetr_add_test(test_optim SOURCES test_optim.c LABELS fast)
rfdetr_add_test(test_optim_torch SOURCES test_optim.c ARGS --torch LABELS fast torch TIMEOUT 300)
rfdetr_add_test(test_train_mlp SOURCES test_train_mlp.c LABELS fast)
