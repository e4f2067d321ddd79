// The model registry (versions, champion and why, pin and unpin) and the predict box.

import { api, errorText } from "./api.js";
import { every, fmt, h, replace } from "./dom.js";

export function modelsView(main) {
  const message = h("div");
  const champion = h("p");
  const body = h("tbody");
  main.append(h("h2", {}, "Model registry"), message, champion,
    h("table", { id: "models" },
      h("thead", {}, h("tr", {}, ["version", "name", "status", "test accuracy", "F1", "ROC AUC", "aliases", ""].map(
        (name, i) => h("th", { class: i >= 3 && i <= 5 ? "num" : "" }, name)))),
      body));

  async function act(method, version) {
    const result = method === "PUT"
      ? await api("/v1/models/aliases/champion", { method, body: { version } })
      : await api("/v1/models/aliases/champion", { method });
    replace(message, result.ok ? "" : h("div", { class: "notice" }, errorText(result)));
    refresh();
  }

  async function refresh() {
    const result = await api("/v1/models");
    if (!result.ok) { replace(message, h("div", { class: "notice" }, errorText(result))); return; }
    const page = result.body;
    replace(champion, page.champion
      ? ["Serving: ", h("strong", { id: "champion" }, `version ${page.champion.version}`), ` (${page.champion.reason})`]
      : "No model yet: train one.");
    const pinned = page.champion?.reason === "pinned";
    replace(body, page.items.map((model) => h("tr", { "data-version": model.version },
      h("td", { class: model.champion ? "champion" : "" }, model.version, model.champion ? " ★" : ""),
      h("td", {}, model.name ?? "—"), h("td", {}, model.status),
      h("td", { class: "num" }, fmt(model.test_metrics.accuracy)),
      h("td", { class: "num" }, fmt(model.test_metrics.f1)),
      h("td", { class: "num" }, fmt(model.test_metrics.roc_auc)),
      h("td", {}, model.aliases.join(", ")),
      h("td", {},
        h("button", { "data-pin": model.version, onclick: () => act("PUT", model.version) }, "Pin as champion"),
        pinned && model.aliases.includes("champion")
          ? h("button", { "data-unpin": model.version, onclick: () => act("DELETE") }, "Unpin") : null))));
  }
  return every(5000, refresh);
}

export function predictView(main) {
  const text = h("textarea", { id: "reviews", placeholder: "One review per line" },
    "A wonderful, moving film with superb acting.\nBoring, badly acted and far too long.");
  const results = h("div", { id: "predictions" });
  const button = h("button", { class: "primary", id: "score", onclick: async () => {
    const texts = text.value.split("\n").map((s) => s.trim()).filter(Boolean);
    button.disabled = true;
    const result = await api("/v1/predict", { method: "POST", body: { texts } });
    button.disabled = false;
    if (!result.ok) { replace(results, h("div", { class: "notice" }, errorText(result))); return; }
    replace(results, h("p", { class: "muted" }, `Scored by model version ${result.body.model_version} (${result.body.model_name}).`),
      h("table", {}, h("tbody", {}, result.body.predictions.map((p, i) => h("tr", {},
        h("td", {}, texts[i]),
        h("td", {}, h("span", { class: "prob", title: p.probability.toFixed(4) }, h("span", { style: { width: `${100 * p.probability}%` } }))),
        h("td", { class: "num" }, p.probability.toFixed(3)),
        h("td", { "data-label": p.label }, p.label))))));
  } }, "Score");
  main.append(h("h2", {}, "Try the champion"), h("div", { class: "card" }, text, h("p", {}, button)), results);
  return null;
}
