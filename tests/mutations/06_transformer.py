"""Mutation bank of assignment 06_transformer: classic bugs of the block and the model, each of which must
cost the points of its own task and only those (tests/test_nbgrader_mutants.py grades them all in one
nbgrader run).

Each entry: (name, solution cell id, snippet of the solution, buggy replacement, test cells that must lose
points). The snippet must occur exactly once in the cell (BEGIN/END SOLUTION lines are removed first).
"""

MUTANTS = [
    ("layer_norm_without_eps", "layer_norm",
     "torch.sqrt(var + self.eps)",
     "torch.sqrt(var)",
     {"test_layer_norm"}),
    ("layer_norm_with_unbiased_variance", "layer_norm",
     "x.var(dim=-1, unbiased=False, keepdim=True)",
     "x.var(dim=-1, keepdim=True)",
     {"test_layer_norm"}),
    ("layer_norm_is_torchs", "layer_norm",
     "        mean = x.mean(dim=-1, keepdim=True)  # (..., 1)\n",
     "        return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)\n",
     {"test_layer_norm"}),
    ("gelu_without_the_cubic_term", "gelu",
     "(x + 0.044715 * x ** 3)",
     "x",
     {"test_gelu"}),
    ("exact_gelu_instead_of_tanh", "gelu",
     "return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))",
     "return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))",
     {"test_gelu"}),
    ("relu_instead_of_gelu", "mlp",
     "return self.c_proj(gelu(self.c_fc(x)))",
     "return self.c_proj(F.relu(self.c_fc(x)))",
     {"test_mlp"}),
    ("post_norm_instead_of_pre_norm", "block",
     "x = x + self.attn(self.ln_1(x))  # (B, T, C)\n        x = x + self.mlp(self.ln_2(x))  # (B, T, C)",
     "x = self.ln_1(x + self.attn(x))  # (B, T, C)\n        x = self.ln_2(x + self.mlp(x))  # (B, T, C)",
     {"test_block"}),
    ("missing_residual_around_the_mlp", "block",
     "x = x + self.mlp(self.ln_2(x))",
     "x = self.mlp(self.ln_2(x))",
     {"test_block"}),
    ("no_weight_tying", "gpt",
     "        self.transformer.wte.weight = self.lm_head.weight  # weight tying: one (V, C) table\n",
     "",
     {"test_gpt"}),
    ("position_embeddings_forgotten", "gpt",
     "x = self.transformer.wte(idx) + self.transformer.wpe(pos)",
     "x = self.transformer.wte(idx)",
     {"test_gpt"}),
    ("final_layer_norm_forgotten", "gpt",
     "        x = self.transformer.ln_f(x)\n",
     "",
     {"test_gpt"}),
]
