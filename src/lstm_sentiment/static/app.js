// The page: send the review to /v1/explain, show label, probability, coloured words and gates.
"use strict";

const $ = (id) => document.getElementById(id);

async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(data.error || `request failed (${response.status})`);
  }
  return data;
}

function showWords(tokens) {
  const box = $("words");
  box.replaceChildren();
  const biggest = Math.max(1e-6, ...tokens.map((t) => Math.abs(t.contribution)));
  tokens.forEach((t) => {
    const span = document.createElement("span");
    const strength = Math.min(1, Math.abs(t.contribution) / biggest);
    const rgb = t.contribution >= 0 ? "var(--pos)" : "var(--neg)";
    span.className = "word";
    span.dataset.contribution = t.contribution.toFixed(4);
    span.style.background = `rgba(${rgb}, ${(0.08 + 0.62 * strength).toFixed(3)})`;
    span.title = `${t.contribution >= 0 ? "+" : ""}${t.contribution.toFixed(4)}`;
    span.textContent = t.token;
    box.append(span, " ");
  });
  return box;
}

// Heat maps of the gates: one panel per gate, words along x, hidden units along y.
function drawGates(gates) {
  const panels = [
    ["input gate i", gates.input_gate, (v) => viridis(v)],
    ["forget gate f", gates.forget_gate, (v) => viridis(v)],
    ["output gate o", gates.output_gate, (v) => viridis(v)],
    ["candidate C~", gates.candidate, (v) => diverging(v)],
  ];
  const n = gates.tokens.length;
  const units = n ? gates.input_gate[0].length : 0;
  const cell = Math.max(6, Math.min(22, Math.floor(860 / Math.max(n, 1))));
  const rowH = Math.max(2, Math.floor(96 / Math.max(units, 1)));
  const left = 110, panelH = units * rowH, gap = 16, labelsH = 90;
  const canvas = document.createElement("canvas");
  canvas.width = left + n * cell + 70;  // room for the last rotated word
  canvas.height = panels.length * (panelH + gap) + labelsH;
  canvas.setAttribute("aria-label", "LSTM gate heat map");
  const ctx = canvas.getContext("2d");
  ctx.font = "12px system-ui, sans-serif";
  panels.forEach(([name, values], p) => {
    const top = p * (panelH + gap);
    ctx.fillStyle = "#374151";
    ctx.fillText(name, 4, top + panelH / 2 + 4);
    for (let t = 0; t < n; t++) {
      for (let u = 0; u < units; u++) {
        ctx.fillStyle = panels[p][2](values[t][u]);
        ctx.fillRect(left + t * cell, top + u * rowH, cell, rowH);
      }
    }
  });
  const base = panels.length * (panelH + gap) + 4;
  ctx.fillStyle = "#374151";
  gates.tokens.forEach((word, t) => {
    ctx.save();
    ctx.translate(left + t * cell + cell / 2 + 4, base);
    ctx.rotate(Math.PI / 3);
    ctx.fillText(word.length > 12 ? word.slice(0, 11) + "…" : word, 0, 0);
    ctx.restore();
  });
  $("gates").replaceChildren(canvas);
}

function viridis(v) {  // 0..1 -> dark purple .. yellow (a small viridis approximation)
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const x = Math.max(0, Math.min(1, v)) * (stops.length - 1);
  const i = Math.min(Math.floor(x), stops.length - 2), f = x - i;
  const c = stops[i].map((a, k) => Math.round(a + f * (stops[i + 1][k] - a)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function diverging(v) {  // -1..1 -> blue .. white .. red
  const x = Math.max(-1, Math.min(1, v));
  const a = Math.round(255 * (1 - Math.abs(x)));
  return x >= 0 ? `rgb(255,${a},${a})` : `rgb(${a},${a},255)`;
}

async function analyze(event) {
  event.preventDefault();
  const text = $("review").value;
  if (!text.trim()) {
    $("status").textContent = "Type a review first.";
    return;
  }
  $("analyze").disabled = true;
  $("status").className = "muted";
  $("status").textContent = "Reading…";
  try {
    const result = await postJSON("/v1/explain", { text });
    const label = $("label");
    if (result.label === null || result.label === undefined) {
      // nothing to read (no words, or none the model knows): say why, show no score
      label.textContent = "no label";
      label.className = "label none";
      $("score").textContent = result.reason || "the model found nothing to read";
      $("bar-fill").style.width = "0%";
    } else {
      label.textContent = result.label;
      label.className = `label ${result.label}`;
      $("score").textContent = `p(positive) = ${result.score.toFixed(3)}`;
      $("bar-fill").style.width = `${(100 * result.score).toFixed(1)}%`;
    }
    $("method").textContent = result.method;
    showWords(result.tokens.map((t, i) => ({ ...t, known: result.gates.known[i] })));
    document.querySelectorAll("#words .word").forEach((el, i) => {
      if (result.gates.known[i] === false) el.classList.add("unk");
    });
    drawGates(result.gates);
    $("result").hidden = false;
    $("status").textContent = "";
  } catch (err) {
    $("status").className = "error";
    $("status").textContent = err.message;
  } finally {
    $("analyze").disabled = false;
  }
}

async function loadModelLine() {
  try {
    const info = await (await fetch("/v1/model")).json();
    const test = info.metrics && info.metrics.test;
    $("model-line").textContent = `${info.preset} model · labels ${info.labels.join(" / ")}` +
      (test ? ` · test accuracy ${(100 * test.accuracy).toFixed(1)}%` : "");
  } catch (err) {
    $("model-line").textContent = "model information unavailable";
  }
}

$("review-form").addEventListener("submit", analyze);
loadModelLine();
