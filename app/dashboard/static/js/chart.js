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

// The reliability diagram: each bin of predicted probabilities as a bar as high as its
// share of positives, a dot at (its mean probability, that share), and the diagonal where
// the two agree (a calibrated model's dots lie on it). bins: [{lower, upper, count,
// mean_probability, positive_rate}, ...], as a job's `reliability` holds them.
export function reliabilityChart(bins) {
  const size = 300, left = 44, right = 12, top = 12, bottom = 36;
  const svg = el("svg", { class: "chart reliability", viewBox: `0 0 ${size} ${size}`, role: "img",
    "aria-label": "reliability diagram", "data-chart": "reliability" });
  const x = (p) => left + p * (size - left - right);
  const y = (p) => top + (1 - p) * (size - top - bottom);
  for (const value of ticks(0, 1, 5)) {
    svg.append(el("line", { class: "axis", x1: x(0), x2: x(1), y1: y(value), y2: y(value) }));
    svg.append(el("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end" }, value.toFixed(1)));
    svg.append(el("text", { x: x(value), y: size - bottom + 16, "text-anchor": "middle" }, value.toFixed(1)));
  }
  svg.append(el("text", { x: (left + size - right) / 2, y: size - 4, "text-anchor": "middle" },
    "predicted probability of positive"));
  svg.append(el("text", { x: 10, y: top + (size - top - bottom) / 2, "text-anchor": "middle",
    transform: `rotate(-90 10 ${top + (size - top - bottom) / 2})` }, "share positive"));
  const total = bins.reduce((sum, b) => sum + b.count, 0) || 1;
  for (const b of bins) {
    if (!b.count) continue;
    const bar = el("rect", { class: "bin", x: x(b.lower) + 1, width: x(b.upper) - x(b.lower) - 2,
      y: y(b.positive_rate), height: y(0) - y(b.positive_rate), "data-bin": b.lower.toFixed(1) });
    bar.append(el("title", {}, `${b.lower.toFixed(1)}–${b.upper.toFixed(1)}: ${b.count} reviews ` +
      `(${(100 * b.count / total).toFixed(1)}%), mean probability ${b.mean_probability.toFixed(3)}, ` +
      `positive ${b.positive_rate.toFixed(3)}`));
    svg.append(bar);
    svg.append(el("circle", { class: "point", cx: x(b.mean_probability), cy: y(b.positive_rate),
      r: 3.5, fill: "#1d2430" }));
  }
  svg.append(el("line", { class: "diagonal", x1: x(0), y1: y(0), x2: x(1), y2: y(1) }));
  return svg;
}
