// Submit a job: the form from the spec's schema (defaults: the course's LSTM), the layer
// table, parameter counts and the memory training would take as the form changes, the
// API's errors next to the fields.

import { api, errorText } from "./api.js";
import { fmt, h, replace } from "./dom.js";
import { specForm } from "./form.js";

// Bytes for people, in the units the server's limits are written in.
function bytes(count) {
  for (const [unit, scale] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]]) {
    if (count >= scale) return `${(count / scale).toFixed(1)} ${unit}`;
  }
  return `${count} bytes`;
}

export function newJobView(main) {
  let stopped = false, timer = null;
  const summary = h("div", { id: "summary" });
  const message = h("div");
  main.append(h("h2", {}, "New training job"),
    h("p", { class: "muted" }, "Every field starts at the course's LSTM. The network's layers are counted as you edit, before anything trains."),
    message);

  specForm().then((form) => {
    if (stopped) return;
    const submit = h("button", { class: "primary", type: "submit", id: "submit" }, "Train");
    form.element.append(h("div", {}, form.general, submit));
    const recipes = h("select", { id: "recipe", "aria-label": "start from a recipe" },
      h("option", { value: "" }, "the spec's defaults (the course's LSTM)"));
    api("/v1/recipes").then((result) => {
      for (const recipe of result.ok ? result.body.items : []) {
        recipes.append(h("option", { value: recipe.name, title: recipe.description }, recipe.name));
      }
      recipes.recipes = result.ok ? result.body.items : [];
    });
    recipes.addEventListener("change", () => {
      const chosen = (recipes.recipes || []).find((r) => r.name === recipes.value);
      if (chosen) { form.fill(chosen.spec); schedule(); }
    });
    main.append(h("p", {}, h("label", { for: "recipe" }, "Start from "), recipes),
      form.element, h("h3", {}, "Layers"), summary);

    async function refreshSummary() {
      const result = await api("/v1/specs/summary", { method: "POST", body: form.read() });
      if (stopped) return;
      if (!result.ok) {
        form.showErrors(result.body?.error?.details || []);
        replace(summary, h("p", { class: "muted" }, errorText(result)));
        return;
      }
      form.showErrors([]);
      const { layers, parameters, estimate } = result.body;
      replace(summary, h("table", { id: "layers" },
        h("thead", {}, h("tr", {}, h("th", {}, "layer"), h("th", {}, "type"), h("th", {}, "output shape"), h("th", { class: "num" }, "parameters"))),
        h("tbody", {}, layers.map((layer) => h("tr", {},
          h("td", {}, layer.name), h("td", {}, layer.type),
          h("td", {}, `(${layer.output_shape.map((d) => (d === null ? "None" : d)).join(", ")})`),
          h("td", { class: "num" }, fmt(layer.parameters)))),
        h("tr", {}, h("th", { colspan: 3 }, "total"), h("td", { class: "num", id: "total-parameters" }, fmt(parameters.total))),
        h("tr", {}, h("th", { colspan: 3 }, "trainable"), h("td", { class: "num" }, fmt(parameters.trainable))),
        h("tr", {}, h("th", { colspan: 3 }, "non-trainable"), h("td", { class: "num" }, fmt(parameters.non_trainable))),
        h("tr", {}, h("th", { colspan: 3, title: "weights, gradients and optimizer state, and one batch's activations" }, "memory to train (estimate)"),
          h("td", { class: "num", id: "training-memory" },
            `${bytes(estimate.training_memory_bytes)} of ${bytes(estimate.max_training_memory_bytes)}`)))));
    }

    const schedule = () => { clearTimeout(timer); timer = setTimeout(refreshSummary, 300); };
    form.element.addEventListener("input", schedule);
    form.element.addEventListener("change", schedule);
    form.element.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      const result = await api("/v1/jobs", { method: "POST", body: form.read() });
      submit.disabled = false;
      if (result.ok) { location.hash = `#/jobs/${result.body.id}`; return; }
      form.showErrors(result.body?.error?.details || []);
      replace(message, h("div", { class: "notice", id: "submit-error" }, errorText(result)));
    });
    refreshSummary();
  });
  return () => { stopped = true; clearTimeout(timer); };
}
