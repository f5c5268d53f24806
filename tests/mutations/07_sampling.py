"""Mutation bank of assignment 07_sampling: classic sampling bugs, each of which must cost the points of
its own task and only those (tests/test_nbgrader_mutants.py grades them all in one nbgrader run).

Each entry: (name, solution cell id, snippet of the solution, buggy replacement, test cells that must lose
points). The snippet must occur exactly once in the cell (BEGIN/END SOLUTION lines are removed first).
"""

MUTANTS = [
    ("temperature_multiplies", "apply_temperature",
     "return logits / temperature",
     "return logits * temperature",
     {"test_apply_temperature"}),
    ("top_k_keeps_k_minus_1", "top_k_filter",
     "order[..., :k]",
     "order[..., :k - 1]",
     {"test_top_k_filter"}),
    ("top_k_threshold_keeps_ties", "top_k_filter",
     "    order = torch.sort(logits, dim=-1, descending=True, stable=True).indices",
     "    kth = torch.topk(logits, k, dim=-1).values[..., -1:]\n"
     "    return logits.masked_fill(logits < kth, float('-inf'))\n"
     "    order = torch.sort(logits, dim=-1, descending=True, stable=True).indices",
     {"test_top_k_filter"}),
    ("top_p_drops_the_crossing_token", "top_p_filter",
     "mass_above = torch.cumsum(probs, dim=-1) - probs",
     "mass_above = torch.cumsum(probs, dim=-1)",
     {"test_top_p_filter"}),
    ("top_p_imported_from_gpt2ref", "top_p_filter",
     "def top_p_filter(logits, p):",
     "from gpt2ref.sampling import top_p_filter\n\n\ndef _my_top_p_filter(logits, p):",
     {"test_top_p_filter"}),
    ("generator_not_passed", "sample_next_token",
     "torch.multinomial(probs, num_samples=1, generator=generator)",
     "torch.multinomial(probs, num_samples=1)",
     {"test_sample_next_token"}),
    ("filters_before_temperature", "sample_next_token",
     "    logits = apply_temperature(logits, temperature)\n",
     "",
     {"test_sample_next_token"}),
    ("no_cropping_to_block_size", "generate",
     "window = idx[:, -model.config.block_size:]",
     "window = idx",
     {"test_generate"}),
    ("only_the_last_token_fed", "generate",
     "window = idx[:, -model.config.block_size:]",
     "window = idx[:, -1:]",
     {"test_generate"}),
    ("dropout_left_on", "generate",
     "    model.eval()  # no dropout while generating\n",
     "",
     {"test_generate"}),
]
