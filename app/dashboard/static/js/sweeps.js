// Sweeps: the list, and one sweep's points ranked by validation accuracy (live).

import { api, errorText } from "./api.js";
import { every, fmt, h, progressBar, replace, status } from "./dom.js";

export function sweepsView(main, id) {
  return id ? sweepView(main, id) : sweepList(main);
}

function sweepList(main) {
  const body = h("tbody");
  const message = h("div");
  main.append(h("h2", {}, "Sweeps"),
    h("p", { class: "muted" }, "Start one with POST /v1/sweeps or `sentiment sweeps create`: a grid or a random search over spec fields, one job per point."),
    message,
    h("table", { id: "sweeps" }, h("thead", {}, h("tr", {}, ["name", "status", "points", "succeeded", "best val acc"].map((n) => h("th", {}, n)))), body));
  return every(3000, async () => {
    const result = await api("/v1/sweeps");
    if (!result.ok) { replace(message, h("div", { class: "notice" }, errorText(result))); return; }
    replace(message);
    replace(body, result.body.items.length ? result.body.items.map((sweep) => h("tr", { "data-sweep": sweep.id },
      h("td", {}, h("a", { href: `#/sweeps/${sweep.id}` }, sweep.name)),
      h("td", {}, sweep.status), h("td", {}, sweep.total), h("td", {}, sweep.by_status.succeeded),
      h("td", { class: "num" }, fmt(sweep.points[0]?.best_val_accuracy))))
      : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No sweeps yet.")));
  });
}

function sweepView(main, id) {
  const head = h("div");
  const table = h("div");
  main.append(head, table);
  return every(2000, async () => {
    const result = await api(`/v1/sweeps/${id}`);
    if (!result.ok) { replace(head, h("div", { class: "notice" }, errorText(result))); return; }
    const sweep = result.body;
    const names = sweep.points.length ? Object.keys(sweep.points[0].values) : [];
    const ended = sweep.by_status.succeeded + sweep.by_status.failed + sweep.by_status.cancelled;
    replace(head,
      h("h2", {}, sweep.name, " ", h("span", { class: "status" }, sweep.status)),
      h("p", {}, `${ended} of ${sweep.total} points ended`,
        progressBar(sweep.total ? ended / sweep.total : 0, `${ended} of ${sweep.total} points ended`),
        h("a", { href: `#/compare/${sweep.points.map((p) => p.job_id).join(",")}` }, "Compare every point's curves"), " ",
        sweep.status === "running" ? h("button", { class: "danger", onclick: () => api(`/v1/sweeps/${id}/cancel`, { method: "POST" }) }, "Cancel the sweep") : null));
    replace(table, h("table", { id: "sweep-points" },
      h("thead", {}, h("tr", {}, h("th", {}, "rank"), names.map((n) => h("th", {}, n)), h("th", {}, "status"),
        h("th", {}, "progress"), h("th", { class: "num" }, "best val acc"), h("th", { class: "num" }, "test acc"))),
      h("tbody", {}, sweep.points.map((point) => h("tr", {},
        h("td", {}, point.rank ?? "—"), names.map((n) => h("td", {}, JSON.stringify(point.values[n]))),
        h("td", {}, status(point.status)),
        h("td", {}, h("a", { href: `#/jobs/${point.job_id}` }, `epoch ${point.epoch} of ${point.epochs}`)),
        h("td", { class: "num" }, fmt(point.best_val_accuracy)), h("td", { class: "num" }, fmt(point.test_accuracy)))))));
  });
}
