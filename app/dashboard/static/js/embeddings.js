// The embedding explorer: a word's nearest words, and words placed on a plane (PCA).

import { api, errorText } from "./api.js";
import { fmt, h, replace } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";

function scatter(points) {
  const size = 460, pad = 40;
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (size - 2 * pad);
  const sy = (y) => size - pad - ((y - y0) / (y1 - y0 || 1)) * (size - 2 * pad);
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("id", "projection");
  for (const point of points) {
    const dot = document.createElementNS(NS, "circle");
    dot.setAttribute("cx", sx(point.x)); dot.setAttribute("cy", sy(point.y)); dot.setAttribute("r", 4);
    dot.setAttribute("fill", "#2563eb");
    const label = document.createElementNS(NS, "text");
    label.setAttribute("x", sx(point.x) + 6); label.setAttribute("y", sy(point.y) + 4);
    Object.assign(label.style, { fontSize: "13px", fill: "#1d2430" });
    label.textContent = point.word;
    svg.append(dot, label);
  }
  return svg;
}

export function embeddingsView(main) {
  const source = h("select", { id: "source" }, h("option", { value: "" }, "imdb-word2vec (100-d)"));
  api("/v1/models").then((result) => {
    for (const model of result.ok ? result.body.items : []) {
      if (model.members) continue; // an ensemble has no embedding of its own: its members do
      source.append(h("option", { value: model.version }, `model version ${model.version} (${model.name})`));
    }
  });
  const word = h("input", { id: "word", value: "great" });
  const words = h("textarea", { id: "words" }, "joy happiness love wonderful great hatred awful boring worst");
  const near = h("div", { id: "neighbors" });
  const plane = h("div");
  const version = () => (source.value ? `&version=${source.value}` : "");

  async function findNeighbors() {
    const result = await api(`/v1/embeddings/neighbors?word=${encodeURIComponent(word.value.trim())}&k=10${version()}`);
    if (!result.ok) { replace(near, h("div", { class: "notice" }, errorText(result))); return; }
    replace(near, h("table", {}, h("tbody", {}, result.body.neighbors.map((n) =>
      h("tr", {}, h("td", {}, n.word), h("td", { class: "num" }, fmt(n.similarity)))))));
  }
  async function project() {
    const list = words.value.split(/[\s,]+/).filter(Boolean);
    const body = { words: list, version: source.value ? Number(source.value) : null };
    const result = await api("/v1/embeddings/projection", { method: "POST", body });
    if (!result.ok) { replace(plane, h("div", { class: "notice" }, errorText(result))); return; }
    replace(plane, scatter(result.body.points));
  }

  main.append(h("h2", {}, "Word embeddings"),
    h("p", { class: "muted" }, "Words used alike get vectors that point alike: the nearest words by cosine similarity, and words laid out on a plane (their first two principal components)."),
    h("p", {}, h("label", { for: "source" }, "Vectors: "), source),
    h("div", { class: "grid" },
      h("div", { class: "card" }, h("h3", {}, "Nearest words"),
        h("p", {}, word, " ", h("button", { id: "find", onclick: findNeighbors }, "Find")), near),
      h("div", { class: "card" }, h("h3", {}, "On a plane"), words,
        h("p", {}, h("button", { id: "project", onclick: project }, "Plot")), plane)));
  return null;
}
