// A job's progress as the job list and the job page show it, from the API's `progress`:
// epochs done, and while the job runs its phase, a bar that moves within the phase,
// the count, the rate and the time left (names and durations as app/jobs/progress.py
// writes them).

import { h, progressBar } from "./dom.js";

export const PHASE_NAMES = {
  reading_data: "reading the data",
  vectorizing: "vectorizing",
  training_word_vectors: "training word vectors",
  building: "building and compiling",
  training: "training",
  evaluating: "evaluating",
  explaining: "explaining",
  exporting: "exporting",
  registering: "registering",
};

const count = (value) => Math.round(value).toLocaleString("en");
const ONE_DECIMAL = { minimumFractionDigits: 1, maximumFractionDigits: 1 };

export function phaseName(phase) {
  return PHASE_NAMES[phase] || String(phase).replaceAll("_", " ");
}

// '45 s', '3 min 5 s', '2 h 10 min'.
export function duration(seconds) {
  const whole = Math.max(0, Math.round(seconds));
  if (whole < 60) return `${whole} s`;
  const minutes = Math.floor(whole / 60), secs = whole % 60;
  if (minutes < 60) return secs ? `${minutes} min ${secs} s` : `${minutes} min`;
  const hours = Math.floor(minutes / 60), rest = minutes % 60;
  return rest ? `${hours} h ${rest} min` : `${hours} h`;
}

// '512 B', '3.4 KiB', '12.0 MiB'.
export function size(bytes) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let value = bytes, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return unit ? `${value.toFixed(1)} ${units[unit]}` : `${value} B`;
}

const given = (value) => value !== null && value !== undefined;

// How full the bar is: within the phase when it has a measure, else by epochs done.
export function share(progress) {
  if (progress.phase && given(progress.fraction)) return progress.fraction;
  return progress.epochs ? progress.epoch / progress.epochs : 0;
}

// 'epoch 2 of 6', and while training 'epoch 2 of 6 done, epoch 3 under way'.
export function epochText(progress) {
  const text = `epoch ${progress.epoch} of ${progress.epochs}`;
  return progress.phase === "training" && given(progress.training_epoch)
    ? `${text} done, epoch ${progress.training_epoch} under way` : text;
}

// '1,210 of 3,750 batches · 41.0/s · about 1 min 2 s left' (the parts known).
export function phaseDetail(progress) {
  const unit = progress.unit ? ` ${progress.unit}` : "";
  const parts = [];
  if (progress.total) parts.push(`${count(progress.done)} of ${count(progress.total)}${unit}`);
  else if (progress.done) parts.push(`${count(progress.done)}${unit}`);
  if (progress.rate) parts.push(`${progress.rate.toLocaleString("en", ONE_DECIMAL)}/s`);
  if (given(progress.eta_seconds)) parts.push(`about ${duration(progress.eta_seconds)} left`);
  return parts.join(" · ");
}

// The phase, the epochs, the bar and the phase's count, rate and time left; outside a
// run (queued, ended), the epochs and a bar by epochs.
export function progressView(progress) {
  const running = Boolean(progress.phase);
  const label = running ? `${phaseName(progress.phase)}: ${phaseDetail(progress) || "under way"}`
    : `epoch ${progress.epoch} of ${progress.epochs}`;
  const detail = running ? phaseDetail(progress) : "";
  return h("div", { class: "job-progress" },
    h("div", { class: "progress-head" },
      running ? h("span", { class: "phase", "data-phase": progress.phase }, phaseName(progress.phase)) : null,
      h("span", { class: "epochs" }, epochText(progress))),
    progressBar(share(progress), label),
    detail ? h("div", { class: "progress-detail muted" }, detail) : null);
}

// The job page's extra lines: a resumed run, and the checkpoint it keeps.
export function recoveryNotes(progress) {
  const notes = [];
  if (given(progress.resumed_after_epoch)) {
    notes.push(h("span", { id: "resumed" },
      `resumed after epoch ${progress.resumed_after_epoch} (an earlier worker stopped)`));
  }
  if (given(progress.checkpoint_bytes)) {
    notes.push(h("span", { id: "checkpoint" }, `checkpoint ${size(progress.checkpoint_bytes)}`));
  }
  return notes.length ? h("p", { class: "muted recovery" }, notes.flatMap((n, i) => (i ? [" · ", n] : [n]))) : null;
}
