"""Mutation bank of assignment 04_positions: classic position-embedding bugs, each of which must cost the
points of its own task and only those (tests/test_nbgrader_mutants.py grades them all in one nbgrader run).

Each entry: (name, solution cell id, snippet of the solution, buggy replacement, test cells that must lose
points). The snippet must occur exactly once in the cell (BEGIN/END SOLUTION lines are removed first).
"""

MUTANTS = [
    ("arange_stops_at_T", "positions",
     "torch.arange(offset, offset + T, dtype=torch.long)",
     "torch.arange(offset, T, dtype=torch.long)",
     {"test_positions"}),
    ("positions_looked_up_with_token_ids", "embed",
     "pos_emb = wpe(positions(T, pos_offset))",
     "pos_emb = wpe(idx)",
     {"test_embed"}),
    ("pos_offset_ignored", "embed",
     "pos_emb = wpe(positions(T, pos_offset))",
     "pos_emb = wpe(positions(T))",
     {"test_embed"}),
    ("context_window_not_checked", "embed",
     "    if pos_offset + T > wpe.num_embeddings:\n",
     "    if False:\n",
     {"test_embed"}),
    ("no_nonlinearity_before_the_mean", "sequence_vector",
     "return torch.tanh(x).mean(dim=1)",
     "return x.mean(dim=1)",
     {"test_sequence_vector"}),
    ("mean_over_the_channels", "sequence_vector",
     "return torch.tanh(x).mean(dim=1)",
     "return torch.tanh(x).mean(dim=2)",
     {"test_sequence_vector"}),
    ("every_token_at_position_zero", "embed_one_at_a_time",
     "pos_offset=t)",
     "pos_offset=0)",
     {"test_embed_one_at_a_time"}),
]
