"""Mutation bank of assignment 05_attention: classic attention bugs, each of which must cost the points of
its own task and only those (tests/test_nbgrader_mutants.py grades them all in one nbgrader run).

Each entry: (name, solution cell id, snippet of the solution, buggy replacement, test cells that must lose
points). The snippet must occur exactly once in the cell (BEGIN/END SOLUTION lines are removed first).
"""

MUTANTS = [
    ("mask_without_the_diagonal", "causal_mask",
     "torch.tril(ones, diagonal=T_k - T)",
     "torch.tril(ones, diagonal=T_k - T - 1)",
     {"test_causal_mask"}),
    ("mask_imported_from_gpt2ref", "causal_mask",
     "def causal_mask(T, device=None, T_k=None):",
     "from gpt2ref.attention import causal_mask\n\n\ndef _my_causal_mask(T, device=None, T_k=None):",
     {"test_causal_mask"}),
    ("no_scaling_by_sqrt_hs", "scaled_dot_product_attention",
     "scores = q @ k.transpose(-2, -1) / math.sqrt(hs)",
     "scores = q @ k.transpose(-2, -1)",
     {"test_scaled_dot_product_attention"}),
    ("softmax_over_the_queries", "scaled_dot_product_attention",
     "weights = F.softmax(scores, dim=-1)",
     "weights = F.softmax(scores, dim=-2)",
     {"test_scaled_dot_product_attention"}),
    ("masked_scores_set_to_zero", "scaled_dot_product_attention",
     """scores.masked_fill(~mask, float("-inf"))""",
     "scores.masked_fill(~mask, 0.0)",
     {"test_scaled_dot_product_attention"}),
    ("wrapper_around_the_reference", "scaled_dot_product_attention",
     "def scaled_dot_product_attention(q, k, v, mask=None):",
     "import gpt2ref.attention\n\n\ndef scaled_dot_product_attention(q, k, v, mask=None):\n"
     "    return gpt2ref.attention.scaled_dot_product_attention(q, k, v, mask)\n\n\ndef _unused(q, k, v, mask=None):",
     {"test_scaled_dot_product_attention"}),
    ("split_along_time_not_channels", "split_heads",
     "return x.view(B, T, n_head, C // n_head).transpose(1, 2)",
     "return x.view(B, n_head, T, C // n_head)",
     {"test_split_heads"}),
    ("heads_merged_in_the_wrong_order", "split_heads",
     "return y.transpose(1, 2).contiguous().view(B, T, nh * hs)",
     "return y.reshape(B, T, nh * hs)",
     {"test_split_heads"}),
    ("no_causal_mask", "causal_self_attention",
     "y, _ = scaled_dot_product_attention(q, k, v, causal_mask(T, x.device))",
     "y, _ = scaled_dot_product_attention(q, k, v)",
     {"test_causal_self_attention"}),
    ("keys_and_queries_swapped", "causal_self_attention",
     "q, k, v = self.c_attn(x).split(self.n_embd, dim=2)",
     "k, q, v = self.c_attn(x).split(self.n_embd, dim=2)",
     {"test_causal_self_attention"}),
    ("subclass_of_the_reference", "causal_self_attention",
     "class CausalSelfAttention(nn.Module):",
     "import gpt2ref.attention\n\n\nclass CausalSelfAttention(gpt2ref.attention.CausalSelfAttention):\n"
     "    pass\n\n\nclass _Mine(nn.Module):",
     {"test_causal_self_attention"}),
]
