/* The book's interactive figures: sampling dials (chapter 7), attention explorer (chapter 5), BPE stepper
 * (chapter 2). Each <div class="gw-widget" data-gw-kind="..."> holds a JSON document exported at build time
 * by gpt2ref/course/widgets.py; this script draws it and redraws on every slider move. No libraries, no
 * network. The arithmetic mirrors gpt2ref.sampling and gpt2ref.bpe (the browser tests check it).
 */
(function () {
  "use strict";

  let counter = 0;
  const uid = (prefix) => "gw-" + prefix + "-" + (++counter);

  /** Create an element with attributes ("text" sets textContent) and children. */
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children || []) node.append(child);
    return node;
  }

  /** A labelled <input type=range> with an <output> showing its value; calls onInput on every change. */
  function slider(label, min, max, step, value, format, onInput) {
    const id = uid("range");
    const input = el("input", { type: "range", id: id, min: min, max: max, step: step, value: value });
    const output = el("output", { for: id, class: "gw-value" });
    const show = () => { output.textContent = format(Number(input.value)); };
    input.addEventListener("input", () => { show(); onInput(); });
    show();
    const box = el("div", { class: "gw-control" }, [el("label", { for: id, text: label }), input, output]);
    return { box: box, input: input };
  }

  // Matplotlib's viridis, sampled at 10 points (the static figures use the same map).
  const VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
    [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]];
  function viridis(t) {
    const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
    const f = x - i;
    const c = VIRIDIS[i].map((v, k) => Math.round(v + f * (VIRIDIS[i + 1][k] - v)));
    return "rgb(" + c.join(",") + ")";
  }
  const inkOn = (t) => (t > 0.55 ? "#000" : "#fff");
  const pct = (p) => (p >= 0.0995 ? (100 * p).toFixed(1) : (100 * p).toFixed(2)) + "%";

  function logSumExp(xs) {
    let m = -Infinity;
    for (const x of xs) m = Math.max(m, x);
    if (m === -Infinity) return m;
    let s = 0;
    for (const x of xs) s += Math.exp(x - m);
    return m + Math.log(s);
  }

  // ------------------------------------------------------------------------------------------------------
  // Sampling dials
  // ------------------------------------------------------------------------------------------------------

  /** gpt2ref.sampling's pipeline on the exported tokens: temperature, top-k, top-p, softmax.
   * The tokens are in top_k_filter's order (logit, ties to the lower id), so top-k keeps a prefix. */
  function samplingState(data, temperature, topK, topP) {
    const n = data.logits.length;
    const z = data.logits.map((x) => x / temperature);
    const k = Math.min(topK, n);
    let kept = k;
    if (topP < 1) {  // top_p_filter: keep a token while the mass ranked above it is < p
      const lseK = logSumExp(z.slice(0, k));
      let massBefore = 0;
      kept = 0;
      for (let i = 0; i < k && massBefore < topP; i++) {
        kept++;
        massBefore += Math.exp(z[i] - lseK);
      }
    }
    const lseKept = logSumExp(z.slice(0, kept));
    const probs = z.map((x, i) => (i < kept ? Math.exp(x - lseKept) : 0));
    let entropy = 0;
    for (const p of probs) if (p > 0) entropy -= p * Math.log2(p);
    // Probabilities before the cut, over the whole vocabulary: the tail's log-sum-exp at this temperature.
    const t = data.temperatures;
    const ti = Math.round((temperature - t.min) / t.step);
    const tail = data.tail_logsumexp[ti];
    let lseAll = logSumExp(z);
    if (tail !== null && tail !== undefined) lseAll = logSumExp([lseAll, tail]);
    const before = z.map((x) => Math.exp(x - lseAll));
    let keptMassBefore = 0;
    for (let i = 0; i < kept; i++) keptMassBefore += before[i];
    return { probs: probs, before: before, k: k, kept: kept, entropy: entropy, keptMassBefore: keptMassBefore };
  }

  function buildSampling(root, data, widget) {
    const n = data.logits.length;
    const d = data.defaults;
    const intro = el("p", { class: "gw-caption" }, [
      "Next token after ", el("code", { text: data.prompt_label }), " (" + data.model + "). ",
      (n === data.vocab_size ? "The widget holds all " + n + " tokens" : "The widget holds the " + n +
        " most likely of the " + data.vocab_size.toLocaleString("en") + " tokens") + "; move the dials.",
    ]);
    const temp = slider("temperature", data.temperatures.min, data.temperatures.max, data.temperatures.step,
      d.temperature, (v) => v.toFixed(2), update);
    const topK = slider("top-k", 1, n, 1, d.top_k, (v) => String(v), update);
    const topP = slider("top-p", 0.01, 1, 0.01, d.top_p, (v) => v.toFixed(2), update);
    const summary = el("p", { class: "gw-summary", "aria-live": "polite" });
    const list = el("ol", { class: "gw-bars", "aria-label": "the most likely next tokens, most likely first" });
    const rows = [];
    for (let i = 0; i < data.n_bars; i++) {
      const ghost = el("span", { class: "gw-bar-before" });
      const bar = el("span", { class: "gw-bar" });
      const value = el("span", { class: "gw-bar-value" });
      const row = el("li", { class: "gw-bar-row", "data-token-id": String(data.ids[i]) }, [
        el("span", { class: "gw-bar-label", text: data.labels[i] }),
        el("span", { class: "gw-bar-track", "aria-hidden": "true" }, [ghost, bar]), value]);
      rows.push({ row: row, ghost: ghost, bar: bar, value: value });
      list.append(row);
    }
    const legend = el("p", { class: "gw-legend" }, [
      el("span", { class: "gw-key gw-key-bar", "aria-hidden": "true" }), " probability after the cut, renormalised; ",
      el("span", { class: "gw-key gw-key-before", "aria-hidden": "true" }), " before the cut (whole vocabulary)"]);
    root.append(intro, el("div", { class: "gw-controls" }, [temp.box, topK.box, topP.box]), summary, list, legend);

    function update() {
      const temperature = Number(temp.input.value), k = Number(topK.input.value), p = Number(topP.input.value);
      const s = samplingState(data, temperature, k, p);
      const scale = Math.max(1e-9, Math.max(...s.probs.slice(0, data.n_bars), ...s.before.slice(0, data.n_bars)));
      rows.forEach((r, i) => {
        const kept = s.probs[i] > 0;
        const reason = kept ? "" : (i >= s.k ? "top-k" : "top-p");
        r.row.dataset.prob = String(s.probs[i]);
        r.row.dataset.before = String(s.before[i]);
        r.row.dataset.kept = kept ? "true" : "false";
        r.row.classList.toggle("gw-cut", !kept);
        r.bar.style.width = (100 * s.probs[i] / scale) + "%";
        r.ghost.style.width = (100 * s.before[i] / scale) + "%";
        r.value.textContent = kept ? pct(s.probs[i]) : "cut (" + reason + ")";
        r.row.setAttribute("aria-label", data.labels[i] + ": " + (kept ? pct(s.probs[i]) : "cut by " + reason) +
          ", " + pct(s.before[i]) + " before the cut");
      });
      widget.dataset.entropy = String(s.entropy);
      widget.dataset.kept = String(s.kept);
      summary.textContent = s.kept + " token" + (s.kept === 1 ? "" : "s") + " kept (top-k cut " + (n - s.k) +
        " of the " + n + ", top-p " + (s.k - s.kept) + " more); before the cut they held " +
        pct(s.keptMassBefore) + " of the probability. Entropy after the cut: " + s.entropy.toFixed(2) + " bits.";
    }
    update();
  }

  // ------------------------------------------------------------------------------------------------------
  // Attention explorer
  // ------------------------------------------------------------------------------------------------------

  /** The packed lower triangles (uint16, little-endian) as weights[layer][head][i][j] (0 above the diagonal). */
  function unpackWeights(data) {
    const raw = atob(data.weights);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    const view = new DataView(bytes.buffer);
    const T = data.labels.length;
    let offset = 0;
    const out = [];
    for (let l = 0; l < data.n_layer; l++) {
      const heads = [];
      for (let h = 0; h < data.n_head; h++) {
        const m = [];
        for (let i = 0; i < T; i++) {
          const row = new Array(T).fill(0);
          for (let j = 0; j <= i; j++) { row[j] = view.getUint16(offset, true) / data.scale; offset += 2; }
          m.push(row);
        }
        heads.push(m);
      }
      out.push(heads);
    }
    return out;
  }

  function buildAttention(root, data, widget) {
    const W = unpackWeights(data);
    const T = data.labels.length;
    let query = T - 1;
    const intro = el("p", { class: "gw-caption" }, [
      "Attention weights of " + data.model + " on ", el("code", { text: data.text }),
      ". Choose a layer and a head; hover over or focus a token to see where it looks."]);
    const layer = slider("layer", 0, data.n_layer - 1, 1, data.defaults.layer, String, update);
    const head = slider("head", 0, data.n_head - 1, 1, data.defaults.head, String, update);
    const tokens = el("div", { class: "gw-tokens", role: "group", "aria-label": "tokens of the sentence" });
    const buttons = data.labels.map((label, i) => {
      const b = el("button", { type: "button", class: "gw-tok", "data-index": String(i), text: label });
      const pick = () => { query = i; update(); };
      b.addEventListener("mouseenter", pick);
      b.addEventListener("focus", pick);
      b.addEventListener("click", pick);
      tokens.append(b);
      return b;
    });
    const readout = el("p", { class: "gw-summary", "aria-live": "polite" });
    const grid = el("div", { class: "gw-heatmap", role: "img" });
    grid.style.gridTemplateColumns = "auto repeat(" + T + ", minmax(0, 1fr))";
    grid.append(el("span", { "aria-hidden": "true" }));
    data.labels.forEach((label) => grid.append(el("span", { class: "gw-axis-label gw-col-label", text: label })));
    const cells = [], rowLabels = [];
    for (let i = 0; i < T; i++) {
      const rowLabel = el("span", { class: "gw-axis-label gw-row-label", text: data.labels[i] });
      grid.append(rowLabel);
      rowLabels.push(rowLabel);
      const row = [];
      for (let j = 0; j < T; j++) {
        const c = el("div", { class: "gw-cell", "data-i": String(i), "data-j": String(j) });
        c.addEventListener("mouseenter", () => { query = i; update(); });
        grid.append(c);
        row.push(c);
      }
      cells.push(row);
    }
    const axis = el("p", { class: "gw-legend", text: "Heatmap: one row per token looking (query), one column " +
      "per token looked at (key); brighter is more weight. The selected row is outlined." });
    root.append(intro, el("div", { class: "gw-controls" }, [layer.box, head.box]), tokens, readout,
      el("div", { class: "gw-heatmap-box" }, [grid]), axis);

    function update() {
      const l = Number(layer.input.value), h = Number(head.input.value);
      const m = W[l][h];
      widget.dataset.layer = String(l);
      widget.dataset.head = String(h);
      widget.dataset.query = String(query);
      buttons.forEach((b, j) => {
        const w = m[query][j];
        const visible = j <= query;
        b.dataset.weight = String(w);
        b.classList.toggle("gw-future", !visible);
        b.setAttribute("aria-pressed", j === query ? "true" : "false");
        b.style.background = visible ? viridis(w) : "";
        b.style.color = visible ? inkOn(w) : "";
        b.setAttribute("aria-label", "token " + j + ", " + data.labels[j] +
          (visible ? ", weight " + w.toFixed(2) : ", in the future: weight 0"));
      });
      for (let i = 0; i < T; i++) {
        rowLabels[i].classList.toggle("gw-row-selected", i === query);
        for (let j = 0; j < T; j++) {
          const c = cells[i][j];
          c.style.background = viridis(m[i][j]);
          c.dataset.weight = String(m[i][j]);
          c.classList.toggle("gw-row-selected", i === query);
        }
      }
      const ranked = m[query].slice(0, query + 1).map((w, j) => [w, j]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
      readout.textContent = "Layer " + l + ", head " + h + ": token " + query + ", “" + data.labels[query] +
        "”, puts most weight on " + ranked.slice(0, 3).map(([w, j]) => "“" + data.labels[j] + "” (" + w.toFixed(2) + ")").join(", ") + ".";
      grid.setAttribute("aria-label", "Heatmap of layer " + l + ", head " + h + ": " + T + " by " + T +
        " attention weights. " + readout.textContent);
    }
    update();
  }

  // ------------------------------------------------------------------------------------------------------
  // BPE stepper
  // ------------------------------------------------------------------------------------------------------

  /** gpt2ref.bpe.merge_pair: replace each occurrence of (a, b), left to right, by id; also where they went. */
  function mergePair(ids, a, b, id) {
    const out = [], fresh = [];
    for (let i = 0; i < ids.length; i++) {
      if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) {
        fresh.push(out.length);
        out.push(id);
        i++;
      } else {
        out.push(ids[i]);
      }
    }
    return { ids: out, fresh: fresh };
  }

  /** The tokens of every chunk after the first `step` merges, and which tokens the last merge made. */
  function bpeAt(data, step) {
    let chunks = data.chunks.map((c) => c.slice());
    let fresh = chunks.map(() => []);
    for (let s = 0; s < step; s++) {
      const [a, b, id] = data.steps[s];
      const merged = chunks.map((c) => mergePair(c, a, b, id));
      chunks = merged.map((m) => m.ids);
      fresh = merged.map((m) => m.fresh);
    }
    return { chunks: chunks, fresh: fresh };
  }

  function buildBpe(root, data, widget) {
    const nSteps = data.steps.length;
    const nBytes = data.chunks.reduce((s, c) => s + c.length, 0);
    const intro = el("p", { class: "gw-caption" }, ["Text: ", el("code", { text: data.text.replace(/ /g, "␣") })]);
    const how = el("p", { class: "gw-caption", text: nSteps + " of the " + data.n_merges.toLocaleString("en") +
      " merges (" + data.tokenizer + ") apply to it, in the order they were learned; slide through them." });
    const step = slider("merges applied", 0, nSteps, 1, nSteps, (v) => v + " of " + nSteps, update);
    const caption = el("p", { class: "gw-summary", "aria-live": "polite" });
    const line = el("div", { class: "gw-bpe-line", role: "list", "aria-label": "the tokens of the text" });
    root.append(intro, how, el("div", { class: "gw-controls" }, [step.box]), caption, line);

    function update() {
      const s = Number(step.input.value);
      const state = bpeAt(data, s);
      line.replaceChildren();
      let count = 0, k = 0;
      const flat = [];
      state.chunks.forEach((chunk, c) => {
        const box = el("span", { class: "gw-chunk" });
        chunk.forEach((id, pos) => {
          const isNew = state.fresh[c].includes(pos);
          const tok = el("span", { class: "gw-bpe-tok gw-shade-" + (k++ % 4) + (isNew ? " gw-new" : ""),
            role: "listitem", "data-id": String(id), title: "id " + id, text: data.tokens[String(id)] });
          if (isNew) tok.setAttribute("aria-label", data.tokens[String(id)] + " (just merged)");
          box.append(tok);
          flat.push(id);
          count++;
        });
        line.append(box);
      });
      widget.dataset.step = String(s);
      widget.dataset.tokens = flat.join(",");
      let text;
      if (s === 0) {
        text = "Start: the " + nBytes + " UTF-8 bytes, one token each, in " + data.chunks.length +
          " chunks that never merge with each other.";
      } else {
        const [a, b, id] = data.steps[s - 1];
        const places = state.fresh.reduce((n, f) => n + f.length, 0);
        text = "Merge " + (id - 255).toLocaleString("en") + " of the tokenizer's " + data.n_merges.toLocaleString("en") +
          ": " + data.tokens[String(a)] + " + " + data.tokens[String(b)] + " → " + data.tokens[String(id)] +
          " (" + places + (places === 1 ? " place" : " places") + "). " + count + " tokens.";
      }
      if (s === nSteps) {
        const same = flat.length === data.final.length && flat.every((v, i) => v === data.final[i]);
        text += same ? " No merge applies any more: this is the tokenizer's own encoding." :
          " (Does not match the tokenizer's encoding!)";
        widget.dataset.matchesEncode = same ? "true" : "false";
      }
      caption.textContent = text;
    }
    update();
  }

  // ------------------------------------------------------------------------------------------------------

  const BUILDERS = { sampling: buildSampling, attention: buildAttention, bpe: buildBpe };

  function init(root) {
    if (root.dataset.gwReady) return;
    const data = JSON.parse(root.querySelector("script.gw-data").textContent);
    const build = BUILDERS[root.dataset.gwKind];
    if (!build) return;
    const live = el("div", { class: "gw-live" });
    root.append(live);
    build(live, data, root);
    root.dataset.gwReady = "true";
    root.classList.add("gw-js");
    // The static figure printed under the widget (same cell output) is for print and for no-JS readers.
    const output = root.closest(".cell_output");
    if (output) output.querySelectorAll("img").forEach((img) => img.classList.add("gw-print-only"));
  }

  function initAll() {
    document.querySelectorAll(".gw-widget").forEach((root) => {
      try { init(root); } catch (err) {
        root.classList.add("gw-failed");
        console.error("gpt2ref widget failed:", err);
      }
    });
  }

  window.gpt2refWidgets = { samplingState: samplingState, unpackWeights: unpackWeights, bpeAt: bpeAt, initAll: initAll };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", initAll);
  else initAll();
})();
