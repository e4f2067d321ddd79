// Line charts drawn by hand in SVG: per-epoch curves, training against validation.

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 560, HEIGHT = 300, LEFT = 52, RIGHT = 16, TOP = 14, BOTTOM = 36;

function el(tag, attributes = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function ticks(low, high, count) {
  if (high === low) return [low];
  const step = (high - low) / count;
  return Array.from({ length: count + 1 }, (_, i) => low + i * step);
}

// series: [{label, color, dashed, points: [[epoch, value], ...]}]
export function lineChart({ title, series, yLabel, epochs }) {
  const svg = el("svg", { class: "chart", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img",
    "aria-label": title, "data-chart": title });
  const all = series.flatMap((s) => s.points);
  const lastEpoch = Math.max(epochs || 1, ...all.map(([x]) => x), 1);
  let low = Math.min(...all.map(([, y]) => y)), high = Math.max(...all.map(([, y]) => y));
  if (!all.length) { low = 0; high = 1; }
  const pad = (high - low) * 0.08 || 0.05;
  low -= pad; high += pad;
  const x = (epoch) => LEFT + ((epoch - 1) / Math.max(lastEpoch - 1, 1)) * (WIDTH - LEFT - RIGHT);
  const y = (value) => TOP + (1 - (value - low) / (high - low)) * (HEIGHT - TOP - BOTTOM);

  for (const value of ticks(low, high, 4)) {
    svg.append(el("line", { class: "axis", x1: LEFT, x2: WIDTH - RIGHT, y1: y(value), y2: y(value) }));
    svg.append(el("text", { x: LEFT - 6, y: y(value) + 4, "text-anchor": "end" }, value.toFixed(3)));
  }
  const step = Math.max(1, Math.ceil(lastEpoch / 10));
  for (let epoch = 1; epoch <= lastEpoch; epoch += step) {
    svg.append(el("text", { x: x(epoch), y: HEIGHT - BOTTOM + 16, "text-anchor": "middle" }, epoch));
  }
  svg.append(el("text", { x: (LEFT + WIDTH - RIGHT) / 2, y: HEIGHT - 4, "text-anchor": "middle" }, "epoch"));
  svg.append(el("text", { x: 12, y: TOP + (HEIGHT - TOP - BOTTOM) / 2, "text-anchor": "middle",
    transform: `rotate(-90 12 ${TOP + (HEIGHT - TOP - BOTTOM) / 2})` }, yLabel));

  for (const s of series) {
    if (!s.points.length) continue;
    const path = s.points.map(([e, v], i) => `${i ? "L" : "M"}${x(e).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    svg.append(el("path", { class: "series", d: path, stroke: s.color,
      "stroke-dasharray": s.dashed ? "6 4" : "none", "data-series": s.label }));
    for (const [e, v] of s.points) {
      const dot = el("circle", { class: "point", cx: x(e), cy: y(v), r: 3.5, fill: s.color });
      dot.append(el("title", {}, `${s.label}, epoch ${e}: ${v.toFixed(4)}`));
      svg.append(dot);
    }
  }
  return svg;
}

export function legend(series) {
  const box = document.createElement("div");
  box.className = "legend";
  for (const s of series) {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = s.color;
    if (s.dashed) swatch.style.opacity = "0.6";
    item.append(swatch, s.label);
    box.append(item);
  }
  return box;
}

export const PALETTE = ["#2563eb", "#dc2626", "#15803d", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f"];
