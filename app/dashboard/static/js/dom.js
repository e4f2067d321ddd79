// Small helpers to build DOM nodes without innerHTML (no text is ever parsed as HTML).

export function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    // Styles through the CSSOM: the Content-Security-Policy refuses style attributes.
    else if (name === "style") Object.assign(node.style, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

export function fmt(value, digits = 4) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return Number.isInteger(value) ? value.toLocaleString("en") : value.toFixed(digits);
  return String(value);
}

export function status(value) {
  return h("span", { class: `status ${value}`, "data-status": value }, value);
}

// A bar filled to `fraction` (0 to 1), with `label` as its tooltip and accessible name.
export function progressBar(fraction, label) {
  const percent = Math.round(1000 * Math.min(1, Math.max(0, Number(fraction) || 0))) / 10;
  return h("div", {
    class: "bar", title: label, role: "progressbar", "aria-label": label,
    "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": percent,
  }, h("span", { style: { width: `${percent}%` } }));
}

// Polling helper shared by the views: run now, then every `ms`; returns a stop function.
export function every(ms, work) {
  let stopped = false, timer = null;
  const tick = async () => {
    if (stopped) return;
    try { await work(); } finally { if (!stopped) timer = setTimeout(tick, ms); }
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}
