"""Mutation bank of assignment 08_training: classic training-loop bugs, each of which must cost the points
of its own task and only those (tests/test_nbgrader_mutants.py grades them all in one nbgrader run).

Each entry: (name, solution cell id, snippet of the solution, buggy replacement, test cells that must lose
points). The snippet must occur exactly once in the cell (BEGIN/END SOLUTION lines are removed first).
"""

MUTANTS = [
    ("targets_not_shifted", "get_batch",
     "data[i + 1:i + 1 + block_size]",
     "data[i:i + block_size]",
     {"test_get_batch"}),
    ("last_window_never_drawn", "get_batch",
     "torch.randint(len(data) - block_size, (batch_size,), generator=generator)",
     "torch.randint(len(data) - block_size - 1, (batch_size,), generator=generator)",
     {"test_get_batch"}),
    ("warmup_off_by_one", "lr_at",
     "cfg.learning_rate * (step + 1) / (cfg.warmup_iters + 1)",
     "cfg.learning_rate * step / cfg.warmup_iters",
     {"test_lr_at"}),
    ("decay_progress_from_step_zero", "lr_at",
     "progress = (step - cfg.warmup_iters) / (cfg.decay_iters - cfg.warmup_iters)",
     "progress = step / cfg.decay_iters",
     {"test_lr_at"}),
    ("cosine_runs_past_the_decay", "lr_at",
     "    if step >= cfg.decay_iters:\n        return cfg.min_lr\n",
     "",
     {"test_lr_at"}),
    ("no_zero_grad", "train_step",
     "    optimizer.zero_grad(set_to_none=True)\n",
     "",
     {"test_train_step"}),
    ("clipping_after_the_step", "train_step",
     "        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)  # norm before clipping\n"
     "    optimizer.step()\n",
     "        optimizer.step()\n"
     "        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)\n"
     "    else:\n"
     "        optimizer.step()\n",
     {"test_train_step"}),
    ("dropout_left_on_while_estimating", "estimate_loss",
     "    model.eval()  # no dropout\n",
     "",
     {"test_estimate_loss"}),
    ("training_mode_not_restored", "estimate_loss",
     "    model.train(was_training)\n",
     "",
     {"test_estimate_loss"}),
    ("gradients_kept_while_estimating", "estimate_loss",
     "    with torch.no_grad():\n",
     "    with torch.enable_grad():\n",
     {"test_estimate_loss"}),
    ("learning_rate_never_set", "train",
     "            group[\"lr\"] = lr\n",
     "            pass\n",
     {"test_train"}),
]
