"""Parity with Hugging Face's GPT-2: the same weights give the same numbers (gpt2ref.weights).

The course's claim is that gpt2ref *is* GPT-2. These tests check it against ``transformers``: a random
``GPT2LMHeadModel`` is saved to disk, loaded into gpt2ref, and both must agree on logits, every hidden
state and greedy generations; exporting back must round-trip exactly.
"""

import dataclasses
import json
import shutil

import pytest
import torch

from gpt2ref.model import GPT, GPTConfig
from gpt2ref.sampling import generate
from gpt2ref.weights import (
    WeightsError,
    config_from_hf,
    from_hf_model,
    from_hf_state_dict,
    from_hf_state_dict_to_model,
    load_gpt2,
    load_gpt_state_dict,
    load_hf_folder,
    to_hf_model,
    to_hf_state_dict,
)

transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")

TOL = 1e-4


def random_hf_gpt2(seed=0, std=0.1, **config):
    """A random GPT2LMHeadModel with the real vocabulary, weights wider than the default init so outputs vary."""
    torch.manual_seed(seed)
    hf_config = transformers.GPT2Config(
        **{"vocab_size": 50257, "n_positions": 128, "n_embd": 64, "n_layer": 2, "n_head": 4, **config}
    )
    hf = transformers.GPT2LMHeadModel(hf_config)
    with torch.no_grad():
        for p in hf.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, std)
            else:
                p.normal_(1.0 if p.abs().sum() > 0 else 0.0, 0.05)  # LayerNorm gains near 1, biases near 0
    hf.config._attn_implementation = "eager"
    return hf.eval()


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hf-gpt2-tiny")
    random_hf_gpt2().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def hf_model(hf_folder):
    return transformers.GPT2LMHeadModel.from_pretrained(hf_folder, attn_implementation="eager").eval()


@pytest.fixture(scope="module")
def ours(hf_folder):
    return load_hf_folder(hf_folder).eval()


def inputs():
    g = torch.Generator().manual_seed(0)
    return [torch.randint(0, 50257, shape, generator=g) for shape in [(1, 1), (1, 7), (3, 16), (2, 128)]]


# --- the same numbers ------------------------------------------------------------------------------


def test_the_config_is_read_from_config_json(ours):
    c = ours.config
    assert (c.vocab_size, c.block_size, c.n_embd, c.n_layer, c.n_head) == (50257, 128, 64, 2, 4)
    assert c.dropout == 0.0


@pytest.mark.parametrize("use_sdpa", [True, False])
def test_logits_equal_hugging_faces_on_several_inputs(hf_model, ours, use_sdpa):
    model = GPT(dataclasses.replace(ours.config, use_sdpa=use_sdpa))
    load_gpt_state_dict(model, ours.state_dict()).eval()
    with torch.no_grad():
        for idx in inputs():
            theirs = hf_model(idx).logits
            mine, _ = model(idx)
            assert mine.shape == theirs.shape
            assert (mine - theirs).abs().max() < TOL, tuple(idx.shape)
            assert theirs.abs().max() > 1.0  # the comparison is not between near-zero numbers


def test_every_hidden_state_equals_hugging_faces(hf_model, ours):
    idx = inputs()[2]
    with torch.no_grad():
        theirs = hf_model(idx, output_hidden_states=True).hidden_states
        mine = ours.hidden_states(idx)
    assert len(mine) == len(theirs) == 3
    for layer, (a, b) in enumerate(zip(mine, theirs, strict=True)):
        assert (a - b).abs().max() < TOL, f"hidden state {layer}"


def test_the_loss_equals_hugging_faces(hf_model, ours):
    idx = inputs()[2]
    with torch.no_grad():
        theirs = hf_model(idx, labels=idx).loss  # HF shifts the labels inside
        _, mine = ours(idx[:, :-1], idx[:, 1:])
    assert abs(theirs.item() - mine.item()) < TOL


@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_generation_is_token_identical_to_hugging_faces(hf_model, ours, use_cache):
    idx = inputs()[1]
    with torch.no_grad():
        theirs = hf_model.generate(
            idx, attention_mask=torch.ones_like(idx), max_new_tokens=20, do_sample=False, pad_token_id=50256
        )
    mine = generate(ours, idx, 20, greedy=True, use_cache=use_cache)
    assert torch.equal(mine, theirs)
    assert len(set(mine[0, 7:].tolist())) > 2  # a varied continuation, not one token repeated


def test_a_hugging_face_model_object_loads_directly(hf_model, ours):
    model = from_hf_model(hf_model)
    for key, value in ours.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    # the weights are copies: changing ours leaves theirs alone
    with torch.no_grad():
        model.transformer.wte.weight.zero_()
    assert hf_model.transformer.wte.weight.abs().sum() > 0


def test_conv1d_matrices_are_transposed_and_the_rest_copied(hf_model):
    hf_sd = hf_model.state_dict()
    sd = from_hf_state_dict(hf_sd)
    assert torch.equal(sd["transformer.h.0.attn.c_attn.weight"], hf_sd["transformer.h.0.attn.c_attn.weight"].T)
    assert sd["transformer.h.1.mlp.c_fc.weight"].shape == (256, 64)  # nn.Linear: (out, in)
    assert torch.equal(sd["transformer.h.1.ln_2.bias"], hf_sd["transformer.h.1.ln_2.bias"])


# --- round trip ------------------------------------------------------------------------------------


def test_exporting_to_hugging_face_gives_the_same_logits():
    torch.manual_seed(0)
    model = GPT(GPTConfig.from_preset("tiny", block_size=32)).eval()
    hf = to_hf_model(model)
    hf.config._attn_implementation = "eager"
    idx = torch.randint(0, 50257, (2, 32))
    with torch.no_grad():
        assert (hf(idx).logits - model(idx)[0]).abs().max() < TOL


def test_a_state_dict_survives_export_and_import_unchanged(ours):
    back = from_hf_state_dict(to_hf_state_dict(ours))
    original = ours.state_dict()
    assert back.keys() == original.keys()
    assert all(torch.equal(back[k], original[k]) for k in original)


def test_an_exported_model_saved_by_hugging_face_loads_again(tmp_path, ours):
    to_hf_model(ours).save_pretrained(tmp_path)
    again = load_hf_folder(tmp_path).eval()
    idx = inputs()[2]
    assert torch.equal(again(idx)[0], ours(idx)[0])


def test_the_exported_state_dict_loads_strictly_into_hugging_faces_class(ours):
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=50257, n_positions=128, n_embd=64, n_layer=2, n_head=4))
    hf.load_state_dict(to_hf_state_dict(ours), strict=True)


# --- other layouts ---------------------------------------------------------------------------------


def test_compile_and_ddp_prefixes_are_stripped(ours):
    wrapped = {"module._orig_mod." + k: v for k, v in ours.state_dict().items()}
    model = load_gpt_state_dict(GPT(ours.config), wrapped).eval()
    idx = inputs()[1]
    assert torch.equal(model(idx)[0], ours(idx)[0])


def test_a_bare_gpt2model_file_with_mask_buffers_loads(hf_model, ours):
    # the published GPT-2 files have no "transformer." prefix, no lm_head, and causal masks as buffers
    bare = {k.removeprefix("transformer."): v for k, v in hf_model.state_dict().items() if not k.startswith("lm_head")}
    for i in range(2):
        bare[f"h.{i}.attn.bias"] = torch.tril(torch.ones(128, 128)).view(1, 1, 128, 128)
        bare[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    model = from_hf_state_dict_to_model(bare, config=ours.config).eval()
    idx = inputs()[2]
    assert torch.equal(model(idx)[0], ours(idx)[0])


def test_the_full_size_shape_is_inferred_from_the_weights_alone():
    with torch.device("meta"):
        sd = GPT(GPTConfig.from_preset("gpt2-medium")).state_dict()
    from gpt2ref.weights import _config_from_shapes

    assert _config_from_shapes(sd) == GPTConfig.from_preset("gpt2-medium")


def test_a_folder_with_pytorch_model_bin_loads(tmp_path, hf_folder, hf_model, ours):
    shutil.copy(hf_folder / "config.json", tmp_path / "config.json")
    torch.save(hf_model.state_dict(), tmp_path / "pytorch_model.bin")
    model = load_hf_folder(tmp_path).eval()
    idx = inputs()[1]
    assert torch.equal(model(idx)[0], ours(idx)[0])


# --- clear errors ----------------------------------------------------------------------------------


def test_missing_and_unexpected_keys_are_listed(ours):
    sd = dict(ours.state_dict())
    del sd["transformer.h.1.mlp.c_fc.bias"]
    sd["transformer.h.1.mlp.gate.weight"] = torch.zeros(3)
    with pytest.raises(WeightsError) as err:
        load_gpt_state_dict(GPT(ours.config), sd)
    message = str(err.value)
    assert "missing keys (1): transformer.h.1.mlp.c_fc.bias" in message
    assert "unexpected keys (1): transformer.h.1.mlp.gate.weight" in message


def test_weights_of_another_size_name_the_key_and_both_shapes(hf_folder):
    wrong = GPT(GPTConfig(vocab_size=50257, block_size=64, n_embd=64, n_layer=2, n_head=4))
    with pytest.raises(WeightsError, match=r"transformer.wpe.weight: expected \(64, 64\), got \(128, 64\)"):
        load_gpt_state_dict(wrong, load_hf_folder(hf_folder).state_dict())
    deeper = GPT(GPTConfig(vocab_size=50257, block_size=128, n_embd=64, n_layer=3, n_head=4))
    with pytest.raises(WeightsError, match=r"missing keys \(12\): transformer.h.2"):
        load_gpt_state_dict(deeper, load_hf_folder(hf_folder).state_dict())


def test_an_untied_output_head_is_refused(hf_model):
    sd = dict(hf_model.state_dict())
    sd["lm_head.weight"] = torch.zeros_like(sd["lm_head.weight"])
    with pytest.raises(WeightsError, match="ties"):
        from_hf_state_dict(sd)


def test_gpt2_variants_gpt2ref_does_not_implement_are_refused():
    with pytest.raises(WeightsError, match="activation_function='relu'"):
        config_from_hf(transformers.GPT2Config(activation_function="relu"))
    with pytest.raises(WeightsError, match="n_inner=100"):
        config_from_hf({"n_positions": 8, "vocab_size": 10, "n_layer": 1, "n_head": 1, "n_embd": 8, "n_inner": 100})
    with pytest.raises(WeightsError, match="model_type 'gpt2'"):
        config_from_hf({"model_type": "llama"})


def test_a_width_outside_the_gpt2_family_needs_an_explicit_config(hf_model):
    with pytest.raises(WeightsError, match="pass config="):
        from_hf_state_dict_to_model(hf_model.state_dict())


def test_a_folder_without_config_json_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="no config.json"):
        load_hf_folder(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(random_hf_gpt2().config.to_dict()))
    with pytest.raises(WeightsError, match="no model.safetensors"):
        load_hf_folder(tmp_path)


def test_a_gpt2_that_is_not_here_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.delenv("GPT2REF_HF_GPT2", raising=False)
    with pytest.raises(WeightsError, match="download=True"):
        load_gpt2("no-such-owner/no-such-gpt2", cache_dir=tmp_path)
    with pytest.raises(WeightsError, match="unknown GPT-2 'gpt3'"):
        load_gpt2("gpt3")


# --- finding real GPT-2 weights --------------------------------------------------------------------


def test_the_environment_variable_points_to_a_local_gpt2(monkeypatch, hf_folder, ours):
    monkeypatch.setenv("GPT2REF_HF_GPT2", str(hf_folder))
    model = load_gpt2("test-owner/tiny-gpt2")
    assert torch.equal(model.state_dict()["lm_head.weight"], ours.state_dict()["lm_head.weight"])
    monkeypatch.setenv("GPT2REF_HF_GPT2", str(hf_folder / "missing"))
    with pytest.raises(WeightsError, match="not a folder"):
        load_gpt2()


def test_weights_of_another_size_are_not_taken_for_the_gpt2_asked_for(monkeypatch, hf_folder):
    monkeypatch.setenv("GPT2REF_HF_GPT2", str(hf_folder))
    with pytest.raises(WeightsError, match=r"\(2 layers, 4 heads, 64 wide.*is not 'gpt2-medium' \(24 layers"):
        load_gpt2("gpt2-medium")


def test_without_local_weights_the_answer_is_none_when_not_required(monkeypatch, tmp_path):
    monkeypatch.delenv("GPT2REF_HF_GPT2", raising=False)
    assert load_gpt2(cache_dir=tmp_path, required=False) is None


def test_gpt2_is_found_in_the_hugging_face_cache(monkeypatch, tmp_path, hf_folder, ours):
    # the cache layout huggingface_hub uses: models--owner--name/{refs/main, snapshots/<commit>/...}
    monkeypatch.delenv("GPT2REF_HF_GPT2", raising=False)
    commit = "0" * 40
    repo = tmp_path / "models--test-owner--tiny-gpt2"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(hf_folder, repo / "snapshots" / commit)
    model = load_gpt2("test-owner/tiny-gpt2", cache_dir=tmp_path)
    idx = inputs()[1]
    assert torch.equal(model(idx)[0], ours(idx)[0])
