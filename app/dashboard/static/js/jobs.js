// The job list (live) and the compare view.

import { api, errorText } from "./api.js";
import { PALETTE, legend, lineChart } from "./chart.js";
import { every, fmt, h, replace, status } from "./dom.js";
import { progressView } from "./progress.js";

export function jobsView(main) {
  const selected = new Set();
  const compare = h("button", { disabled: true, onclick: () => {
    location.hash = `#/compare/${[...selected].join(",")}`;
  } }, "Compare selected");
  const body = h("tbody");
  const message = h("div");
  main.append(
    h("h2", {}, "Training jobs"),
    h("p", {}, h("a", { href: "#/new" }, "Submit a new job"), " · select two or more to ", compare),
    message,
    h("table", { id: "jobs" },
      h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, "name"), h("th", {}, "architecture"),
        h("th", {}, "status"), h("th", {}, "progress"), h("th", { class: "num" }, "best val acc"),
        h("th", { class: "num" }, "test acc"), h("th", {}, "submitted"))),
      body));

  return every(2000, async () => {
    const result = await api("/v1/jobs?limit=100");
    if (!result.ok) { replace(message, h("div", { class: "notice" }, errorText(result))); return; }
    replace(message);
    const rows = result.body.items.map((job) => {
      const box = h("input", { type: "checkbox", checked: selected.has(job.id), "aria-label": `select ${job.name}`,
        onchange: (event) => {
          if (event.target.checked) selected.add(job.id); else selected.delete(job.id);
          compare.disabled = selected.size < 2;
        } });
      return h("tr", { "data-job": job.id },
        h("td", {}, box),
        h("td", {}, h("a", { href: `#/jobs/${job.id}` }, job.name)),
        h("td", {}, job.spec.kind === "ensemble" ? "ensemble" : job.spec.architecture),
        h("td", {}, status(job.status)),
        h("td", { class: "progress" }, progressView(job.progress)),
        h("td", { class: "num" }, fmt(job.best_val_accuracy)),
        h("td", { class: "num" }, fmt(job.test_metrics?.accuracy)),
        h("td", { class: "muted" }, new Date(job.timings.created_at).toLocaleString()));
    });
    replace(body, rows.length ? rows : h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No jobs yet.")));
  });
}

function flatten(object, prefix = "") {
  const out = {};
  for (const [key, value] of Object.entries(object || {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (value && typeof value === "object" && !Array.isArray(value)) Object.assign(out, flatten(value, path));
    else out[path] = JSON.stringify(value);
  }
  return out;
}

export function compareView(main, ids) {
  main.append(h("h2", {}, "Compare jobs"));
  if (ids.length < 2) {
    main.append(h("p", {}, "Select two or more jobs in the ", h("a", { href: "#/jobs" }, "job list"), " and press Compare."));
    return null;
  }
  const charts = h("div", { class: "grid" });
  const specs = h("div");
  main.append(charts, h("h3", {}, "Specs side by side (differences highlighted)"), specs);

  return every(3000, async () => {
    const jobs = [];
    for (const id of ids) {
      const [job, metrics] = await Promise.all([api(`/v1/jobs/${id}`), api(`/v1/jobs/${id}/metrics`)]);
      if (!job.ok) { replace(specs, h("div", { class: "notice" }, errorText(job))); return; }
      jobs.push({ job: job.body, epochs: metrics.body?.epochs || [] });
    }
    const series = (key) => jobs.map(({ job, epochs }, i) => ({
      label: job.name, color: PALETTE[i % PALETTE.length],
      points: epochs.map((e) => [e.epoch, e[key]]),
    }));
    const most = Math.max(...jobs.map(({ job }) => job.progress.epochs));
    replace(charts,
      h("div", { class: "card" }, h("h3", {}, "Validation loss"), legend(series("val_loss")),
        lineChart({ title: "validation loss", series: series("val_loss"), yLabel: "val loss", epochs: most })),
      h("div", { class: "card" }, h("h3", {}, "Validation accuracy"), legend(series("val_accuracy")),
        lineChart({ title: "validation accuracy", series: series("val_accuracy"), yLabel: "val accuracy", epochs: most })));

    const flat = jobs.map(({ job }) => flatten(job.spec));
    const keys = [...new Set(flat.flatMap(Object.keys))];
    replace(specs, h("table", { id: "spec-diff" },
      h("thead", {}, h("tr", {}, h("th", {}, "field"), jobs.map(({ job }) => h("th", {}, job.name)))),
      h("tbody", {}, keys.map((key) => {
        const values = flat.map((f) => f[key] ?? "—");
        const differs = new Set(values).size > 1;
        return h("tr", { class: differs ? "diff" : "", "data-differs": differs ? "yes" : "no" },
          h("td", {}, key), values.map((v) => h("td", {}, v)));
      }))));
  });
}
