// The model registry (versions, champion and why, pin and unpin, ensembles: members and a
// form to make one) and the predict box.

import { api, errorText } from "./api.js";
import { every, fmt, h, replace } from "./dom.js";

export function modelsView(main) {
  const message = h("div");
  const champion = h("p");
  const body = h("tbody");
  // The versions chosen for a new ensemble and their weights, kept across refreshes.
  const chosen = new Map();
  const ensembleName = h("input", { id: "ensemble-name", placeholder: "ensemble name", maxlength: 100 });
  const ensembleNote = h("div", { id: "ensemble-note" });
  const create = h("button", { class: "primary", id: "create-ensemble", onclick: () => createEnsemble() }, "Create ensemble");
  main.append(h("h2", {}, "Model registry"), message, champion,
    h("table", { id: "models" },
      h("thead", {}, h("tr", {}, ["version", "name", "status", "test accuracy", "F1", "ROC AUC", "aliases", "members (weights)", "", "ensemble: weight"].map(
        (name, i) => h("th", { class: i >= 3 && i <= 5 ? "num" : "" }, name)))),
      body),
    h("div", { class: "card", id: "ensemble-form" },
      h("h3", {}, "New ensemble"),
      h("p", { class: "muted" }, "Tick two or more versions above and give each a weight (they are scaled to sum to 1). "
        + "A worker averages their probabilities into one SavedModel, evaluates it on the test set and registers it as a new version, "
        + "champion by the same rule as any version."),
      h("p", {}, ensembleName, " ", create), ensembleNote));

  async function act(method, version) {
    const result = method === "PUT"
      ? await api("/v1/models/aliases/champion", { method, body: { version } })
      : await api("/v1/models/aliases/champion", { method });
    replace(message, result.ok ? "" : h("div", { class: "notice" }, errorText(result)));
    refresh();
  }

  async function createEnsemble() {
    const members = [...chosen.keys()];
    const weights = members.map((version) => Number(chosen.get(version)));
    const name = ensembleName.value.trim() || `ensemble-${members.join("-")}`;
    create.disabled = true;
    const result = await api("/v1/models/ensembles", { method: "POST", body: { name, members, weights } });
    create.disabled = false;
    if (!result.ok) { replace(ensembleNote, h("div", { class: "notice" }, errorText(result))); return; }
    chosen.clear();
    replace(ensembleNote, h("p", {}, "Submitted: ",
      h("a", { href: `#/jobs/${result.body.id}`, id: "ensemble-job" }, `job ${result.body.name}`),
      "; its version appears here once the job succeeds."));
    refresh();
  }

  function members(model) {
    if (!model.members) return "—";
    return model.members.map((m) => `${m.version} (${m.weight.toFixed(2)})`).join(" + ");
  }

  function choice(model) {
    const weight = h("input", { type: "number", min: "0", step: "any", class: "weight", "data-weight": model.version,
      value: chosen.get(model.version) ?? 1, disabled: !chosen.has(model.version),
      oninput: () => { if (chosen.has(model.version)) chosen.set(model.version, weight.value); } });
    const box = h("input", { type: "checkbox", "data-member": model.version, checked: chosen.has(model.version),
      "aria-label": `include version ${model.version} in the ensemble`,
      onchange: () => {
        if (box.checked) chosen.set(model.version, weight.value || 1); else chosen.delete(model.version);
        weight.disabled = !box.checked;
      } });
    return [box, " ", weight];
  }

  async function refresh() {
    const result = await api("/v1/models");
    if (!result.ok) { replace(message, h("div", { class: "notice" }, errorText(result))); return; }
    const page = result.body;
    replace(champion, page.champion
      ? ["Serving: ", h("strong", { id: "champion" }, `version ${page.champion.version}`), ` (${page.champion.reason})`]
      : "No model yet: train one.");
    const pinned = page.champion?.reason === "pinned";
    // Not under the cursor: re-rendering would take the focus from a weight being typed.
    if (document.activeElement?.tagName === "INPUT" && body.contains(document.activeElement)) return;
    replace(body, page.items.map((model) => h("tr", { "data-version": model.version },
      h("td", { class: model.champion ? "champion" : "" }, model.version, model.champion ? " ★" : ""),
      h("td", {}, model.name ?? "—"), h("td", {}, model.status),
      h("td", { class: "num" }, fmt(model.test_metrics.accuracy)),
      h("td", { class: "num" }, fmt(model.test_metrics.f1)),
      h("td", { class: "num" }, fmt(model.test_metrics.roc_auc)),
      h("td", {}, model.aliases.join(", ")),
      h("td", { "data-members": model.version }, members(model)),
      h("td", {},
        h("button", { "data-pin": model.version, onclick: () => act("PUT", model.version) }, "Pin as champion"),
        pinned && model.aliases.includes("champion")
          ? h("button", { "data-unpin": model.version, onclick: () => act("DELETE") }, "Unpin") : null),
      h("td", {}, choice(model)))));
  }
  return every(5000, refresh);
}

export function predictView(main) {
  const text = h("textarea", { id: "reviews", placeholder: "One review per line" },
    "A wonderful, moving film with superb acting.\nBoring, badly acted and far too long.");
  const results = h("div", { id: "predictions" });
  const explain = h("input", { type: "checkbox", id: "explain", checked: true });
  const button = h("button", { class: "primary", id: "score", onclick: async () => {
    const texts = text.value.split("\n").map((s) => s.trim()).filter(Boolean);
    button.disabled = true;
    const body = explain.checked ? { texts, explain: true, explain_top: 5 } : { texts };
    const result = await api("/v1/predict", { method: "POST", body });
    button.disabled = false;
    if (!result.ok) { replace(results, h("div", { class: "notice" }, errorText(result))); return; }
    const explained = result.body.predictions.some((p) => p.explanation);
    replace(results, h("p", { class: "muted" }, `Scored by model version ${result.body.model_version} (${result.body.model_name}).`),
      explained ? legend() : null,
      h("table", {}, h("tbody", {}, result.body.predictions.map((p, i) => h("tr", {},
        h("td", {}, p.explanation ? highlighted(texts[i], p.explanation) : texts[i]),
        h("td", {}, h("span", { class: "prob", title: p.probability.toFixed(4) }, h("span", { style: { width: `${100 * p.probability}%` } }))),
        h("td", { class: "num" }, p.probability.toFixed(3)),
        h("td", { "data-label": p.label }, p.label))))));
  } }, "Score");
  main.append(h("h2", {}, "Try the champion"), h("div", { class: "card" }, text,
    h("p", {}, button, " ", h("label", {}, explain, " Explain: highlight the words that moved each score"))), results);
  return null;
}

// A review with each word the model read marked by its share of the log-odds: blue with a
// solid underline toward positive, orange with a dotted one toward negative (a pair
// colour-blind readers tell apart, and a cue beyond colour), deeper for a larger share
// of the review's largest; the value on hover. Spans count code points, as the API does.
export function highlighted(text, explanation) {
  const characters = Array.from(text);
  const words = explanation.words.filter((w) => w.start !== null);
  const largest = Math.max(1e-9, ...words.map((w) => Math.abs(w.contribution)));
  const parts = [];
  let at = 0;
  for (const word of words) {
    parts.push(characters.slice(at, word.start).join(""));
    const share = word.contribution / largest;
    const value = `${word.contribution >= 0 ? "+" : ""}${word.contribution.toFixed(3)}`;
    parts.push(h("mark", {
      class: `word ${share >= 0 ? "toward-positive" : "toward-negative"}`,
      title: `${value} to the log-odds`, "data-contribution": word.contribution,
      style: { backgroundColor: shade(share) },
    }, characters.slice(word.start, word.end).join("")));
    at = word.end;
  }
  parts.push(characters.slice(at).join(""));
  const top = explanation.tokens.map((t) => `${t.token} ${t.contribution >= 0 ? "+" : ""}${t.contribution.toFixed(2)}`);
  return h("div", { class: "explained", "data-method": explanation.method },
    h("p", {}, parts), h("p", { class: "muted top-tokens" }, `Moved it most: ${top.join(", ")}`));
}

function shade(share) {
  const alpha = (0.55 * Math.min(1, Math.abs(share))).toFixed(3);
  return share >= 0 ? `rgba(33, 102, 172, ${alpha})` : `rgba(230, 97, 1, ${alpha})`;
}

function legend() {
  return h("p", { class: "legend" },
    h("mark", { class: "word toward-positive", style: { backgroundColor: shade(1) } }, "toward positive"), " ",
    h("mark", { class: "word toward-negative", style: { backgroundColor: shade(-1) } }, "toward negative"),
    h("span", { class: "muted" }, " — deeper for a larger share of the score's log-odds; hover a word for its value."));
}
