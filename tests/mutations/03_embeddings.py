"""Mutation bank of assignment 03_embeddings: classic embedding bugs, each of which must cost the points of
its own task and only those (tests/test_nbgrader_mutants.py grades them all in one nbgrader run).

Each entry: (name, solution cell id, snippet of the solution, buggy replacement, test cells that must lose
points). The snippet must occur exactly once in the cell (BEGIN/END SOLUTION lines are removed first).
"""

MUTANTS = [
    ("one_hot_without_num_classes", "one_hot_embedding",
     "F.one_hot(ids, num_classes=V)",
     "F.one_hot(ids)",
     {"test_one_hot_embedding"}),
    ("integer_one_hot_times_float_table", "one_hot_embedding",
     "F.one_hot(ids, num_classes=V).to(weight.dtype)",
     "F.one_hot(ids, num_classes=V)",
     {"test_one_hot_embedding"}),
    ("out_of_range_ids_not_rejected", "one_hot_embedding",
     "    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= V):\n",
     "    if False:\n",
     {"test_one_hot_embedding"}),
    ("tied_output_layer_counted_twice", "embedding_parameters",
     "return vocab_size * n_embd + block_size * n_embd",
     "return 2 * vocab_size * n_embd + block_size * n_embd",
     {"test_embedding_parameters"}),
    ("position_table_forgotten", "embedding_parameters",
     "return vocab_size * n_embd + block_size * n_embd",
     "return vocab_size * n_embd",
     {"test_embedding_parameters"}),
    ("ranked_by_dot_product", "nearest_neighbours",
     "unit = F.normalize(weight, dim=1)",
     "unit = weight",
     {"test_nearest_neighbours"}),
    ("token_is_its_own_neighbour", "nearest_neighbours",
     """    sims[token_id] = float("-inf")""",
     "    pass",
     {"test_nearest_neighbours"}),
    ("sorted_ascending", "nearest_neighbours",
     "return sims.topk(k).indices.tolist()",
     "return [i for i in torch.argsort(sims).tolist() if i != token_id][:k]",
     {"test_nearest_neighbours"}),
]
