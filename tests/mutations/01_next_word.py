"""Mutation bank of assignment 01_next_word: classic bigram-model bugs, each of which must cost the points
of its own task and only those (tests/test_nbgrader_mutants.py grades them all in one nbgrader run).

Each entry: (name, solution cell id, snippet of the solution, buggy replacement, test cells that must lose
points). The snippet must occur exactly once in the cell (BEGIN/END SOLUTION lines are removed first).
"""

MUTANTS = [
    ("rows_and_columns_swapped", "count_bigrams",
     "counts[prev, nxt] += 1",
     "counts[nxt, prev] += 1",
     {"test_count_bigrams"}),
    ("targets_not_shifted", "count_bigrams",
     "zip(ids[:-1].tolist(), ids[1:].tolist(), strict=True)",
     "zip(ids[:-1].tolist(), ids[:-1].tolist(), strict=True)",
     {"test_count_bigrams"}),
    ("imported_from_gpt2ref", "count_bigrams",
     "def count_bigrams(ids, vocab_size):",
     "from gpt2ref.bigram import count_bigrams\n\n\ndef _my_count_bigrams(ids, vocab_size):",
     {"test_count_bigrams"}),
    ("normalised_over_columns", "bigram_probs",
     "row_sums = table.sum(dim=1, keepdim=True)  # (V, 1)",
     "row_sums = table.sum(dim=0, keepdim=True)  # (1, V)",
     {"test_bigram_probs"}),
    ("smoothing_forgotten", "bigram_probs",
     "table = counts.to(torch.float64) + smoothing  # (V, V)",
     "table = counts.to(torch.float64)  # (V, V)",
     {"test_bigram_probs"}),
    ("summed_instead_of_averaged", "cross_entropy",
     "return -torch.log(p_target).mean()",
     "return -torch.log(p_target).sum()",
     {"test_cross_entropy"}),
    ("perplexity_in_bits", "cross_entropy",
     "return math.exp(loss)",
     "return 2 ** loss",
     {"test_cross_entropy"}),
    ("generator_not_passed", "generate_loop",
     "torch.multinomial(probs.float(), 1, generator=generator)",
     "torch.multinomial(probs.float(), 1)",
     {"test_generate_loop"}),
    ("argmax_instead_of_sampling", "generate_loop",
     "int(torch.multinomial(probs.float(), 1, generator=generator))",
     "int(torch.argmax(probs))",
     {"test_generate_loop"}),
    ("only_the_last_token_passed", "generate_loop",
     "probs = next_distribution_fn(list(ids))",
     "probs = next_distribution_fn(ids[-1:])",
     {"test_generate_loop"}),
]
