// The dashboard's router: #/jobs, #/jobs/<id>, #/new, #/compare/<id,id>, #/sweeps[/<id>],
// #/models, #/predict.

import { saveKey, savedKey } from "./api.js";
import { compareView, jobsView } from "./jobs.js";
import { jobView } from "./job.js";
import { newJobView } from "./newjob.js";
import { modelsView, predictView } from "./models.js";
import { sweepsView } from "./sweeps.js";
import { embeddingsView } from "./embeddings.js";

const main = document.getElementById("main");
let stopCurrent = () => {};

// Each view renders into main and returns a function that stops its polling.
function route() {
  stopCurrent();
  main.replaceChildren();
  const [, page = "jobs", argument] = location.hash.split("/");
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.dataset.nav === page);
  }
  const views = {
    jobs: () => (argument ? jobView(main, argument) : jobsView(main)),
    new: () => newJobView(main),
    compare: () => compareView(main, (argument || "").split(",").filter(Boolean)),
    sweeps: () => sweepsView(main, argument),
    embeddings: () => embeddingsView(main),
    models: () => modelsView(main),
    predict: () => predictView(main),
  };
  stopCurrent = (views[page] || views.jobs)() || (() => {});
}

const keyInput = document.getElementById("api-key");
const keyState = document.getElementById("key-state");
function showKeyState() {
  keyState.textContent = savedKey() ? "key saved in this browser" : "no key yet";
}
keyInput.value = savedKey();
document.getElementById("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  saveKey(keyInput.value);
  showKeyState();
  route();
});
showKeyState();
window.addEventListener("hashchange", route);
route();
