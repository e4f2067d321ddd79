// One job: live learning curves (training against validation), diagnosis, test metrics
// and their reliability diagram, parameter counts, cancel.

import { api, errorText } from "./api.js";
import { legend, lineChart, reliabilityChart } from "./chart.js";
import { every, fmt, h, replace, status } from "./dom.js";
import { progressView, recoveryNotes } from "./progress.js";

const ENDED = new Set(["succeeded", "failed", "cancelled"]);

export function jobView(main, id) {
  const epochs = [];
  const head = h("div");
  const curves = h("div", { class: "grid" });
  const details = h("div", { class: "grid" });
  main.append(head, curves, details);

  async function cancel(button) {
    button.disabled = true;
    const result = await api(`/v1/jobs/${id}/cancel`, { method: "POST" });
    if (!result.ok) { button.disabled = false; alert(errorText(result)); }
  }

  function drawCurves(total) {
    const pick = (key) => epochs.map((e) => [e.epoch, e[key]]);
    const pair = (name, key, valKey) => [
      { label: `training ${name}`, color: "#2563eb", points: pick(key) },
      { label: `validation ${name}`, color: "#dc2626", dashed: true, points: pick(valKey) },
    ];
    const loss = pair("loss", "loss", "val_loss");
    const accuracy = pair("accuracy", "accuracy", "val_accuracy");
    replace(curves,
      h("div", { class: "card" }, h("h3", {}, "Loss"), legend(loss),
        lineChart({ title: "loss", series: loss, yLabel: "loss", epochs: total })),
      h("div", { class: "card" }, h("h3", {}, "Accuracy"), legend(accuracy),
        lineChart({ title: "accuracy", series: accuracy, yLabel: "accuracy", epochs: total })));
  }

  let followUps = null; // fetched once, when the job has a diagnosis

  async function loadFollowUps(job) {
    if (followUps !== null || !job.diagnosis) return;
    const result = await api(`/v1/jobs/${id}/follow-ups`);
    followUps = result.ok ? result.body.items : [];
  }

  async function follow(suggestion, button) {
    button.disabled = true;
    const result = await api(`/v1/jobs/${id}/follow-up`, { method: "POST", body: { suggestion } });
    if (result.ok) location.hash = `#/jobs/${result.body.id}`;
    else { button.disabled = false; alert(errorText(result)); }
  }

  function nextSteps() {
    if (!followUps || !followUps.length) return null;
    return h("div", { class: "card", id: "follow-ups" }, h("h3", {}, "Next steps"),
      h("table", {}, h("tbody", {}, followUps.map((item) => h("tr", {},
        h("td", {}, h("strong", {}, item.id), h("div", { class: "muted" }, item.rationale)),
        h("td", {}, Object.entries(item.changes).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(", ")),
        h("td", {}, h("button", { "data-follow": item.id, onclick: (e) => follow(item.id, e.target) }, "Train it")))))));
  }

  function drawDetails(job) {
    const diagnosis = job.diagnosis
      ? h("div", { class: "card", id: "diagnosis" }, h("h3", {}, "Diagnosis"),
        h("p", { class: `fit-${job.diagnosis.fit}` }, h("strong", {}, job.diagnosis.fit.replace("_", " ")), ": ", job.diagnosis.reason),
        job.diagnosis.remedies?.length ? h("ul", {}, job.diagnosis.remedies.map((r) => h("li", {}, r))) : null)
      : h("div", { class: "card muted", id: "diagnosis" }, h("h3", {}, "Diagnosis"),
        job.spec.kind === "ensemble" ? "None: an ensemble trains nothing." : "After the last epoch.");
    const test = job.test_metrics
      ? h("table", { id: "test-metrics" }, h("tbody", {}, Object.entries(job.test_metrics).map(([k, v]) =>
        h("tr", {}, h("th", {}, k), h("td", { class: "num" }, fmt(v))))))
      : h("p", { class: "muted" }, "Once the job has succeeded.");
    const parameters = job.parameters
      ? h("table", { id: "parameters" }, h("tbody", {},
        ["total", "trainable", "non_trainable"].map((k) => h("tr", {}, h("th", {}, k.replace("_", "-")), h("td", { class: "num" }, fmt(job.parameters[k]))))))
      : h("p", { class: "muted" }, "Once training has started.");
    replace(details, diagnosis, nextSteps(),
      h("div", { class: "card" }, h("h3", {}, "Test metrics"), test),
      calibration(job),
      driversCard(job),
      h("div", { class: "card" }, h("h3", {}, "Parameters"), parameters,
        job.model_version ? h("p", {}, "Registered as ", h("a", { href: "#/models" }, `model version ${job.model_version}`)) : null),
      h("div", { class: "card" }, h("h3", {}, "Spec"),
        h("details", {}, h("summary", {}, specSummary(job.spec)),
          h("pre", {}, JSON.stringify(job.spec, null, 2)))));
  }

  let stop = () => {};
  stop = every(1500, async () => {
    const result = await api(`/v1/jobs/${id}`);
    if (!result.ok) { replace(head, h("div", { class: "notice" }, errorText(result))); return; }
    const job = result.body;
    const since = epochs.length ? epochs[epochs.length - 1].epoch : 0;
    const metrics = await api(`/v1/jobs/${id}/metrics?since_epoch=${since}`);
    if (metrics.ok) epochs.push(...metrics.body.epochs);
    const canCancel = job.status === "queued" || job.status === "running";
    replace(head,
      h("h2", {}, job.name, " ", status(job.status)),
      h("div", { class: "job-head" }, h("div", { id: "progress" }, progressView(job.progress)),
        canCancel ? h("button", { class: "danger", id: "cancel", onclick: (e) => cancel(e.target) }, "Cancel") : null),
      recoveryNotes(job.progress),
      job.error ? h("div", { class: "notice" }, job.error) : null);
    drawCurves(job.progress.epochs);
    await loadFollowUps(job);
    drawDetails(job);
    if (ENDED.has(job.status) && epochs.length >= job.progress.epoch) stop();
  });
  return () => stop();
}

// Does a probability of 0.9 mean positive nine times in ten? The test predictions'
// reliability diagram, with the ECE it adds up to.
function calibration(job) {
  if (!job.reliability) return null;
  const ece = job.test_metrics?.ece;
  return h("div", { class: "card", id: "calibration" }, h("h3", {}, "Calibration"),
    h("p", { class: "muted" }, "Test reviews by predicted probability: each bar rises to the ",
      "share of its reviews that are positive, and its dot sits at their mean probability. ",
      "Calibrated, the dots lie on the dashed diagonal. Expected calibration error: ",
      h("strong", { id: "ece" }, fmt(ece)), "."),
    reliabilityChart(job.reliability));
}

// What the model learned to read: the tokens whose contributions, summed over a sample
// of test reviews, push its scores furthest each way (the explanations of "Try it").
function driversCard(job) {
  if (!job.drivers) return null;
  const { method, reviews, positive, negative } = job.drivers;
  const side = (title, items, direction) => h("div", {},
    h("h4", {}, title),
    h("ol", { class: "drivers", "data-side": direction }, items.map((d) => h("li", {},
      h("mark", { class: `word toward-${direction}`, title: `mean ${d.mean >= 0 ? "+" : ""}${d.mean.toFixed(3)} in ${d.reviews} reviews` }, d.token),
      h("span", { class: "muted" }, ` ${d.total >= 0 ? "+" : ""}${d.total.toFixed(2)}`)))));
  return h("div", { class: "card", id: "drivers" }, h("h3", {}, "What drives it"),
    h("p", { class: "muted" }, `The words and n-grams that moved its scores most over ${reviews} test reviews: `,
      "each one's contributions to the log-odds, summed ",
      method === "exact" ? "(exact for this bag)." : "(integrated gradients)."),
    h("div", { class: "grid" }, side("Toward positive", positive, "positive"), side("Toward negative", negative, "negative")));
}

function specSummary(spec) {
  if (spec.kind === "ensemble") {
    return `ensemble of versions ${spec.members.map((v, i) => `${v} (${spec.weights[i].toFixed(2)})`).join(" + ")}`;
  }
  return `${spec.architecture}, ${spec.epochs} epochs, batch ${spec.batch_size}, ${spec.optimizer.name}`;
}
