"""The GPT-2 model: configuration, block, full model, parameter counts, optimizer (gpt2ref.model)."""

import math

import pytest
import torch
import torch.nn.functional as F

from gpt2ref.model import GPT, MLP, Block, GPTConfig, TanhGELU, fused_adamw_available


def tiny(**overrides):
    torch.manual_seed(0)
    return GPT(GPTConfig.from_preset("tiny", **{"vocab_size": 97, "block_size": 16, **overrides}))


def on_meta(name):
    """Build a full-size model without allocating memory: only shapes matter for counting."""
    with torch.device("meta"):
        return GPT(GPTConfig.from_preset(name))


# --- configuration ---------------------------------------------------------------------------------


def test_the_default_config_is_gpt2_small():
    c = GPTConfig()
    assert (c.block_size, c.vocab_size, c.n_layer, c.n_head, c.n_embd) == (1024, 50257, 12, 12, 768)
    assert c.head_size == 64 and c.bias and c.use_sdpa and c.dropout == 0.0


@pytest.mark.parametrize(
    "name,layers,heads,width",
    [("gpt2", 12, 12, 768), ("gpt2-medium", 24, 16, 1024), ("gpt2-large", 36, 20, 1280), ("gpt2-xl", 48, 25, 1600)],
)
def test_presets_have_the_published_gpt2_shapes(name, layers, heads, width):
    c = GPTConfig.from_preset(name)
    assert (c.n_layer, c.n_head, c.n_embd, c.block_size, c.vocab_size) == (layers, heads, width, 1024, 50257)


def test_a_preset_can_be_changed_without_touching_the_original():
    c = GPTConfig.from_preset("tiny", vocab_size=65, dropout=0.1)
    assert (c.vocab_size, c.dropout, c.n_layer) == (65, 0.1, 2)
    assert GPTConfig.from_preset("tiny").vocab_size == 50257


def test_unknown_presets_and_fields_are_named_in_the_error():
    with pytest.raises(ValueError, match="unknown preset 'gpt3'.*gpt2-medium"):
        GPTConfig.from_preset("gpt3")
    with pytest.raises(ValueError, match="n_layers"):
        GPTConfig.from_preset("gpt2", n_layers=3)


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"n_embd": 100, "n_head": 12}, "divisible by n_head"),
        ({"n_layer": 0}, "n_layer must be a positive integer"),
        ({"vocab_size": -5}, "vocab_size"),
        ({"block_size": 2.5}, "block_size"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"layer_norm_eps": 0.0}, "layer_norm_eps"),
    ],
)
def test_an_impossible_config_is_a_value_error(overrides, message):
    with pytest.raises(ValueError, match=message):
        GPTConfig(**overrides)


# --- parameter counts ------------------------------------------------------------------------------


def test_gpt2_small_has_exactly_124_439_808_parameters():
    model = on_meta("gpt2")
    assert model.num_parameters() == 124_439_808
    assert model.num_parameters(non_embedding=True) == 124_439_808 - 50257 * 768 - 1024 * 768 == 85_056_000


@pytest.mark.parametrize(
    "name,count", [("gpt2-medium", 354_823_168), ("gpt2-large", 774_030_080), ("gpt2-xl", 1_557_611_200)]
)
def test_the_larger_presets_have_the_published_parameter_counts(name, count):
    assert on_meta(name).num_parameters() == count


def test_the_parameter_table_adds_up_to_the_total_and_counts_the_tied_head_once():
    model = on_meta("gpt2")
    rows = dict(model.parameter_table())
    assert sum(rows.values()) == model.num_parameters()
    assert rows["token embedding wte (shared with lm_head)"] == 38_597_376  # about 31% of the model
    assert rows["position embedding wpe"] == 786_432
    assert rows["attention c_attn + c_proj (12 x 2,362,368)"] == 12 * (768 * 3 * 768 + 3 * 768 + 768 * 768 + 768)
    assert rows["MLP c_fc + c_proj (12 x 4,722,432)"] == 12 * (768 * 3072 + 3072 + 3072 * 768 + 768)
    assert not any("lm_head" in name and "shared" not in name for name in rows)


def test_the_output_head_shares_the_token_table():
    model = tiny()
    assert model.lm_head.weight is model.transformer.wte.weight
    keys = model.state_dict().keys()
    assert "lm_head.weight" in keys and "transformer.wte.weight" in keys
    assert all(k.startswith(("transformer.wte", "transformer.wpe", "transformer.h.", "transformer.ln_f", "lm_head")) for k in keys)


# --- initialisation --------------------------------------------------------------------------------


def test_weights_start_as_gpt2_does():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=64, vocab_size=500, n_layer=8, n_head=4, n_embd=128))
    residual_std = 0.02 / math.sqrt(2 * 8)
    for name, p in model.named_parameters():
        if name.endswith("c_proj.weight"):
            assert p.std().item() == pytest.approx(residual_std, rel=0.1), name
        elif name.endswith(("c_attn.weight", "c_fc.weight", "wte.weight", "wpe.weight")):
            assert p.std().item() == pytest.approx(0.02, rel=0.1), name
        elif ".ln_" in name and name.endswith("weight"):
            assert torch.equal(p, torch.ones_like(p)), name
        elif name.endswith("bias"):
            assert torch.equal(p, torch.zeros_like(p)), name


def test_an_untrained_model_is_about_uniformly_unsure():
    model = tiny(vocab_size=5000).eval()
    idx = torch.randint(0, 5000, (4, 16))
    _, loss = model(idx, torch.randint(0, 5000, (4, 16)))
    assert loss.item() == pytest.approx(math.log(5000), abs=0.1)


# --- forward ---------------------------------------------------------------------------------------


def test_forward_gives_one_row_of_logits_per_position_and_no_loss_without_targets():
    model = tiny()
    logits, loss = model(torch.randint(0, 97, (3, 10)))
    assert logits.shape == (3, 10, 97) and loss is None


def test_the_loss_is_the_mean_cross_entropy_and_ignores_minus_one():
    model = tiny()
    idx = torch.randint(0, 97, (2, 8))
    targets = torch.randint(0, 97, (2, 8))
    logits, loss = model(idx, targets)
    assert torch.allclose(loss, F.cross_entropy(logits.reshape(-1, 97), targets.reshape(-1)))
    targets[:, :4] = -1
    _, partial = model(idx, targets)
    assert torch.allclose(partial, F.cross_entropy(logits[:, 4:].reshape(-1, 97), targets[:, 4:].reshape(-1)))


def test_last_only_gives_just_the_final_positions_logits():
    model = tiny().eval()
    idx = torch.randint(0, 97, (2, 9))
    last, _ = model(idx, last_only=True)
    assert last.shape == (2, 1, 97)
    assert torch.allclose(last, model(idx)[0][:, -1:], atol=1e-6)
    with pytest.raises(ValueError, match="last_only"):
        model(idx, idx, last_only=True)


def test_a_sequence_longer_than_the_context_window_is_a_clear_error():
    model = tiny()
    with pytest.raises(ValueError, match="block_size.*16.*crop"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_a_one_dimensional_input_asks_for_a_batch_dimension():
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        tiny()(torch.zeros(5, dtype=torch.long))


def test_logits_at_a_position_ignore_the_tokens_after_it():
    model = tiny().eval()
    idx = torch.randint(0, 97, (1, 12))
    changed = idx.clone()
    changed[0, 8:] = (changed[0, 8:] + 1) % 97
    a, _ = model(idx)
    b, _ = model(changed)
    assert torch.allclose(a[:, :8], b[:, :8], atol=1e-5)
    assert not torch.allclose(a[:, 8:], b[:, 8:])


def test_the_fused_and_explicit_attention_give_the_same_model_output():
    torch.manual_seed(0)
    fused = GPT(GPTConfig.from_preset("tiny", vocab_size=97, use_sdpa=True)).double().eval()
    explicit = GPT(GPTConfig.from_preset("tiny", vocab_size=97, use_sdpa=False)).double().eval()
    explicit.load_state_dict(fused.state_dict())
    idx = torch.randint(0, 97, (2, 20))
    assert (fused(idx)[0] - explicit(idx)[0]).abs().max() < 1e-10


def test_the_kv_cache_gives_the_same_logits_as_the_full_sequence():
    model = tiny().eval()
    idx = torch.randint(0, 97, (2, 14))
    full, _ = model(idx)
    cache = model.new_kv_cache()
    prefill, _ = model(idx[:, :5], kv_cache=cache)
    steps = [model(idx[:, t : t + 1], kv_cache=cache)[0] for t in range(5, 14)]
    assert cache.pos == 14
    assert torch.allclose(torch.cat([prefill, *steps], dim=1), full, atol=1e-5)


def test_a_full_cache_refuses_one_more_token_with_advice_to_crop():
    model = tiny().eval()
    cache = model.new_kv_cache()
    model(torch.zeros(1, 16, dtype=torch.long), kv_cache=cache)
    with pytest.raises(ValueError, match="crop"):
        model(torch.zeros(1, 1, dtype=torch.long), kv_cache=cache)


def test_hidden_states_follow_hugging_faces_convention():
    model = tiny().eval()
    idx = torch.randint(0, 97, (2, 6))
    states = model.hidden_states(idx)
    assert len(states) == model.config.n_layer + 1
    wte, wpe = model.transformer.wte.weight, model.transformer.wpe.weight
    assert torch.allclose(states[0], wte[idx] + wpe[:6])  # the embeddings come first
    assert torch.allclose(states[1], model.transformer.h[0](states[0]))  # then each block's output
    assert torch.allclose(model.lm_head(states[-1]), model(idx)[0], atol=1e-6)  # the last one is after ln_f


def test_attention_maps_are_each_layers_own_weights_in_a_forward_pass():
    model = tiny().double().eval()
    idx = torch.randint(0, 97, (2, 7))
    maps = model.attention_maps(idx)
    assert maps.shape == (model.config.n_layer, 2, model.config.n_head, 7, 7)
    assert torch.allclose(maps.sum(-1), torch.ones((), dtype=maps.dtype), rtol=0, atol=1e-12)  # rows: distributions
    assert torch.all(maps.triu(diagonal=1) == 0)  # nothing from later tokens
    layer_inputs = {}  # what each attention layer sees in the ordinary forward pass
    hooks = [block.attn.register_forward_pre_hook(lambda m, args, i=i: layer_inputs.__setitem__(i, args[0]))
             for i, block in enumerate(model.transformer.h)]
    model(idx)
    for hook in hooks:
        hook.remove()
    for i, block in enumerate(model.transformer.h):
        _, weights = block.attn(layer_inputs[i], return_weights=True)
        assert torch.allclose(maps[i], weights, rtol=0, atol=1e-12)


def test_a_block_whose_output_projections_are_zero_passes_the_residual_stream_through():
    torch.manual_seed(0)
    config = GPTConfig.from_preset("tiny")
    block = Block(config)
    for layer in (block.attn.c_proj, block.mlp.c_proj):
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    x = torch.randn(2, 5, config.n_embd)
    assert torch.equal(block(x), x)


def test_the_mlp_widens_four_times_and_uses_tanh_gelu():
    torch.manual_seed(0)
    mlp = MLP(GPTConfig.from_preset("tiny"))
    assert mlp.c_fc.weight.shape == (256, 64) and mlp.c_proj.weight.shape == (64, 256)
    x = torch.randn(3, 64)
    expected = mlp.c_proj(F.gelu(mlp.c_fc(x), approximate="tanh"))
    assert torch.allclose(mlp(x), expected, atol=1e-6)


def test_gpt2s_gelu_is_pytorchs_tanh_gelu_in_value_and_gradient_and_stays_finite() -> None:
    gelu = TanhGELU()
    assert isinstance(gelu, torch.nn.GELU) and gelu.approximate == "tanh"
    x = torch.linspace(-12, 12, 20001, requires_grad=True)
    ours = gelu(x)
    (grad,) = torch.autograd.grad(ours.sum(), x)
    x_ref = x.detach().requires_grad_()
    theirs = F.gelu(x_ref, approximate="tanh")
    (grad_ref,) = torch.autograd.grad(theirs.sum(), x_ref)
    assert torch.allclose(ours, theirs, atol=1e-6) and torch.allclose(grad, grad_ref, atol=1e-5)
    x64 = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(gelu, (x64,))
    huge = torch.tensor([-1e30, -1e13, 1e13, 1e30], requires_grad=True)
    (grad_huge,) = torch.autograd.grad(gelu(huge).sum(), huge)
    assert torch.equal(grad_huge, torch.tensor([0.0, 0.0, 1.0, 1.0]))  # PyTorch's own kernel gives nan at +-1e30
    with torch.no_grad():  # inference: the in-place path for many elements, PyTorch's kernel for a few
        for n in (TanhGELU.SMALL + 1, 3072):
            x = torch.randn(n) * 4
            assert torch.allclose(gelu(x), F.gelu(x, approximate="tanh"), atol=1e-6)


def test_dropout_is_random_in_training_and_off_in_eval():
    model = tiny(dropout=0.2)
    idx = torch.randint(0, 97, (1, 8))
    model.train()
    assert not torch.allclose(model(idx)[0], model(idx)[0])
    model.eval()
    assert torch.equal(model(idx)[0], model(idx)[0])


def test_a_tiny_model_can_memorise_a_batch():
    model = tiny()
    idx = torch.randint(0, 97, (4, 16))
    optimizer = model.configure_optimizer(0.0, 3e-3, (0.9, 0.95), "cpu")
    _, first = model(idx[:, :-1], idx[:, 1:])
    for _ in range(60):
        _, loss = model(idx[:, :-1], idx[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.25 * first.item()


# --- optimizer and FLOPs ---------------------------------------------------------------------------


def test_the_optimizer_decays_matrices_and_embeddings_but_not_biases_or_layer_norms():
    model = tiny()
    optimizer = model.configure_optimizer(weight_decay=0.1, learning_rate=6e-4, betas=(0.9, 0.95), device_type="cpu")
    assert isinstance(optimizer, torch.optim.AdamW)
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert sum(p.numel() for g in optimizer.param_groups for p in g["params"]) == model.num_parameters()
    assert any(p is model.transformer.wte.weight for p in decay["params"])
    assert decay["lr"] == 6e-4 and decay["betas"] == (0.9, 0.95)
    # one fused kernel for all parameters where this PyTorch has it for the CPU (2.4 and later)
    assert bool(optimizer.defaults.get("fused")) == fused_adamw_available("cpu")


def test_the_fused_adamw_takes_the_same_steps_as_the_foreach_one():
    if not fused_adamw_available("cpu"):
        pytest.skip("this PyTorch has no fused AdamW for the CPU")
    torch.manual_seed(0)
    models = [tiny().double(), tiny().double()]  # float64: rounding differences stay far below the bound
    models[1].load_state_dict(models[0].state_dict())
    fused = models[0].configure_optimizer(0.1, 1e-2, (0.9, 0.99), "cpu")
    loop = torch.optim.AdamW([{"params": [p for p in models[1].parameters() if p.dim() >= 2], "weight_decay": 0.1},
                              {"params": [p for p in models[1].parameters() if p.dim() < 2], "weight_decay": 0.0}],
                             lr=1e-2, betas=(0.9, 0.99), foreach=True)
    optimizers = [fused, loop]
    idx = torch.randint(0, 97, (4, 16))
    for _ in range(5):
        for model, optimizer in zip(models, optimizers, strict=True):
            model(idx, idx)[1].backward()
            optimizer.step()
            optimizer.zero_grad()
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert torch.allclose(a, b, rtol=0, atol=1e-10)


def test_training_flops_per_token_are_6n_plus_the_attention_term():
    model = on_meta("gpt2")
    n = 124_439_808 - 1024 * 768  # the position table takes part in no matrix product
    assert model.estimate_flops_per_token() == 6 * n + 12 * 12 * 768 * 1024 == 855_166_464
    assert model.estimate_flops_per_token(seq_len=256) == 6 * n + 12 * 12 * 768 * 256
    assert model.estimate_mfu(tokens_per_second=1000, peak_flops=855_166_464_000) == pytest.approx(1.0)


def test_the_output_head_scores_a_token_from_its_transposed_copy_and_follows_weight_changes():
    model = tiny().eval()
    head = model.lm_head
    x = torch.randn(2, 1, model.config.n_embd)
    with torch.no_grad():
        assert torch.allclose(head(x), x @ head.weight.t(), atol=1e-6)  # the fast path: few rows, no gradient
        first_copy = head._transposed[3]
        head(x)
        assert head._transposed[3] is first_copy  # made once
        head.weight.mul_(2)  # an optimizer step, or load_state_dict: the copy is remade
        assert torch.allclose(head(x), x @ head.weight.t(), atol=1e-6)
        model.transformer.wte.weight.add_(1)  # the tied token table is the same tensor
        assert torch.allclose(head(x), x @ head.weight.t(), atol=1e-6)
    x.requires_grad_()
    head(x).sum().backward()  # with gradients: the ordinary Linear
    assert head.weight.grad is not None and torch.allclose(x.grad, head.weight.sum(0).expand_as(x), atol=1e-5)
