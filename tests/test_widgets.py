"""The data behind the book's interactive figures (gpt2ref.course.widgets), checked without a browser.

The browser side (the widgets' own JavaScript) is checked against the same functions in
tests/test_widgets_browser.py.
"""

from __future__ import annotations

import json

import pytest
import torch
from widget_helpers import tiny_model

from gpt2ref.bpe import BPETokenizer, encode_chunk_fast
from gpt2ref.course import widgets
from gpt2ref.gpt2_tokenizer import GPT2Tokenizer
from gpt2ref.sampling import apply_temperature, top_k_filter, top_p_filter


@pytest.fixture(scope="module")
def tiny():
    return tiny_model()


def full_logits(model, tok, prompt):
    """The next-token logits (V,) as generation computes them (``last_only``, like sampling.next_token_logits)."""
    with torch.no_grad():
        return model(torch.tensor([tok.encode(prompt)]), last_only=True)[0][0, -1]


def test_temperature_grid_is_the_sliders_values():
    grid = widgets.temperature_grid()
    assert grid[0] == 0.1 and grid[-1] == 2.0 and len(grid) == 39
    assert all(abs(b - a - 0.05) < 1e-9 for a, b in zip(grid, grid[1:], strict=False))


def test_sampling_data_holds_the_top_tokens_in_top_k_order(tiny):
    model, tok = tiny
    data = widgets.sampling_data(model, tok, "To be, or not to ", n_top=20)
    logits = full_logits(model, tok, "To be, or not to ")
    assert len(data["ids"]) == len(data["logits"]) == len(data["labels"]) == 20
    # The ids are exactly what top_k_filter keeps for k = 20, in descending logit order.
    kept = torch.isfinite(top_k_filter(logits[None], 20)[0]).nonzero()[:, 0].tolist()
    assert sorted(data["ids"]) == kept
    assert data["logits"] == sorted(data["logits"], reverse=True)
    assert data["logits"] == [float(logits[i]) for i in data["ids"]]  # float32 values, exactly
    assert data["labels"][:3] == [widgets.visible(tok.decode([i])) for i in data["ids"][:3]]


def test_tail_logsumexp_completes_the_full_vocabulary(tiny):
    model, tok = tiny
    prompt = "To be, or not to "
    data = widgets.sampling_data(model, tok, prompt, n_top=20)
    logits = full_logits(model, tok, prompt).double()
    for t, tail in zip(widgets.temperature_grid(), data["tail_logsumexp"], strict=True):
        top = torch.tensor(data["logits"], dtype=torch.float64) / t
        full = torch.logsumexp(logits / t, dim=0)
        assert abs(torch.logaddexp(torch.logsumexp(top, 0), torch.tensor(tail)) - full) < 1e-9
    whole = widgets.sampling_data(model, tok, prompt, n_top=1000)
    assert len(whole["ids"]) == tok.vocab_size and set(whole["tail_logsumexp"]) == {None}


@pytest.mark.parametrize("t,k,p", [(1.0, 20, 1.0), (0.5, 7, 0.9), (1.7, 20, 0.5), (0.1, 3, 0.99), (2.0, 1, 0.3)])
def test_widget_probabilities_equal_sampling_on_the_whole_vocabulary(tiny, t, k, p):
    model, tok = tiny
    data = widgets.sampling_data(model, tok, "ROMEO:\nWhat shall I ", n_top=20)
    logits = full_logits(model, tok, "ROMEO:\nWhat shall I ").double()
    expected = torch.softmax(top_p_filter(top_k_filter(apply_temperature(logits[None], t), k), p), dim=-1)[0]
    restricted = widgets.sampling_reference(data, t, k, p)  # on the 20 exported logits only
    assert torch.allclose(restricted, expected[data["ids"]], atol=1e-12, rtol=0)
    assert abs(restricted.sum().item() - 1) < 1e-12  # top-k <= 20: nothing outside the export survives


def test_attention_data_round_trips_every_head(tiny):
    model, tok = tiny
    data = widgets.attention_data(model, tok, "Is this a dagger?", layer=1, head=1)
    maps = widgets.attention_maps(model, tok.encode("Is this a dagger?"))
    assert maps.shape == (2, 2, 17, 17)
    assert torch.allclose(maps.sum(-1), torch.ones(2, 2, 17), atol=1e-6)
    assert (widgets.unpack_weights(data) - maps.double()).abs().max() <= 0.5 / widgets.WEIGHT_SCALE + 1e-9
    assert data["defaults"] == {"layer": 1, "head": 1}


def test_attention_maps_are_the_layers_own_weights(tiny):
    """Same weights as a layer computes on the residual stream it receives (checked for layer 0)."""
    model, tok = tiny
    ids = tok.encode("Out, damned spot")
    idx = torch.tensor([ids])
    with torch.no_grad():
        x = model.transformer.wte(idx) + model.transformer.wpe(torch.arange(len(ids)))[None]
        _, w0 = model.transformer.h[0].attn(model.transformer.h[0].ln_1(x), return_weights=True)
    assert torch.allclose(widgets.attention_maps(model, ids)[0], w0[0], atol=1e-6)


def test_bad_input_gets_a_clear_error(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match="non-empty"):
        widgets.sampling_data(model, tok, "")
    with pytest.raises(ValueError, match="at most 32"):
        widgets.attention_data(model, tok, "x" * 40)
    with pytest.raises(ValueError, match="layer 5, head 0 does not exist"):
        widgets.attention_data(model, tok, "abc", layer=5)
    with pytest.raises(ValueError, match="Unknown widget kind"):
        widgets.widget_html({"kind": "pie"}, title="t")


def test_bpe_steps_end_at_the_trained_tokenizers_encoding():
    text = "the other, that the thing is thine; the theme"
    bpe = BPETokenizer(pattern="gpt2")
    bpe.train(text * 3, 256 + 20)
    data = widgets.bpe_steps_data(bpe, text, tokenizer_name="test")
    assert data["final"] == bpe.encode(text)
    assert [i for chunk in widgets.bpe_tokens_at(data, len(data["steps"])) for i in chunk] == bpe.encode(text)
    assert [i for chunk in data["chunks"] for i in chunk] == list(text.encode("utf-8"))
    ids = [new_id for _, _, new_id in data["steps"]]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # each merge once, in the order learned


def test_bpe_step_n_is_the_text_after_the_first_merges():
    """After step s, each chunk is what a tokenizer holding only the merges learned up to that step makes."""
    text = "the other, that the thing is thine"
    bpe = BPETokenizer(pattern="gpt2")
    bpe.train(text * 2, 256 + 12)
    data = widgets.bpe_steps_data(bpe, text)
    chunks = [list(chunk.encode("utf-8")) for chunk in bpe.split(text)]
    for s in range(len(data["steps"]) + 1):
        last = data["steps"][s - 1][2] if s else 255
        prefix = {pair: i for pair, i in bpe.merges.items() if i <= last}
        assert widgets.bpe_tokens_at(data, s) == [encode_chunk_fast(c, prefix) for c in chunks]


def test_bpe_steps_with_gpt2s_merges():
    tok = GPT2Tokenizer.load()
    text = "The tokenizer splits unhappiness, doesn't it?"
    data = widgets.bpe_steps_data(tok, text, tokenizer_name="GPT-2")
    assert data["final"] == tok.encode(text)
    assert [i for chunk in widgets.bpe_tokens_at(data, len(data["steps"])) for i in chunk] == tok.encode(text)
    assert data["n_merges"] == 50_000
    assert data["tokens"][str(tok.encode(" unh")[0])] == "␣unh"


def test_widget_html_embeds_its_data_safely():
    data = {"kind": "bpe", "text": "</script><b>x</b>", "n": 1}
    page = widgets.widget_html(data, title="A <title>")
    assert "</script><b>" not in page and 'aria-label="A &lt;title&gt;"' in page
    payload = page.split('class="gw-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(payload) == data


def test_documents_are_small(tiny):
    model, tok = tiny
    data = widgets.sampling_data(model, tok, "To be", n_top=200)
    assert len(json.dumps(data)) < 40_000
    attention = widgets.attention_data(model, tok, "To be, or not to be, that is the")
    assert len(json.dumps(attention)) < 40_000


def test_static_figures_draw_the_exported_data(tiny):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model, tok = tiny
    dials = widgets.sampling_data(model, tok, "To be", n_top=30, n_bars=12)
    fig = widgets.sampling_figure(dials, settings=[(1.0, 30, 1.0), (0.5, 5, 0.9)])
    assert len(fig.axes) == 2 and "top-k 5" in fig.axes[1].get_title()
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == dials["labels"][:12]
    heads = widgets.attention_data(model, tok, "To be", layer=1, head=0)
    fig2 = widgets.attention_figure(heads)
    assert "layer 1, head 0" in fig2.axes[0].get_title()
    stepper = widgets.bpe_steps_data(GPT2Tokenizer.load(), "a cat")
    fig3 = widgets.bpe_figure(stepper)
    titles = [t.get_text() for t in fig3.axes[0].texts if t.get_text().startswith("after ")]
    assert titles[-1].startswith(f"after {len(stepper['steps'])} of the") and titles[0].startswith("after 0 of")
    boxes = sorted((p.get_x(), p.get_y(), p.get_width()) for p in fig3.axes[0].patches)
    assert all(a[0] + a[2] <= b[0] for a, b in zip(boxes, boxes[1:], strict=False) if a[1] == b[1]), "boxes overlap"
    plt.close("all")


def test_probabilities_before_the_cut_are_over_the_whole_vocabulary(tiny):
    model, tok = tiny
    data = widgets.sampling_data(model, tok, "To be", n_top=10)
    logits = full_logits(model, tok, "To be").double()
    for t in (0.1, 0.65, 2.0):
        assert torch.allclose(widgets.sampling_before_cut(data, t), torch.softmax(logits / t, 0)[data["ids"]], atol=1e-12)
    with pytest.raises(ValueError, match="not one of the slider's values"):
        widgets.sampling_before_cut(data, 0.33)


def test_exports_leave_the_models_mode_alone(tiny):
    model, tok = tiny
    model.train()
    try:
        widgets.sampling_data(model, tok, "To be", n_top=5)
        widgets.attention_data(model, tok, "To be")
        assert model.training
    finally:
        model.eval()
