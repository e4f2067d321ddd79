"""The dashboard in a real headless Chromium, against a real API and worker (on the
embedded SQLite defaults): submit a job from the form, watch its curves gain points,
compare two jobs, pin a model, try a prediction. Screenshots go to test-artifacts/."""

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.browser import browser_page, screenshot
from tests.support.services import ADMIN, ADMIN_KEY, Stack, embedded_env, running_stack
from tests.support.specs import QUICK_DENSE_JOB

EPOCHS = 6


@pytest.fixture(scope="module")
def service(imdb_path, session_data_dir, tmp_path_factory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("dashboard")
    with running_stack(embedded_env(imdb_path, session_data_dir, folder), folder) as stack:
        yield stack


@pytest.fixture(scope="module")
def page(service: Stack) -> Iterator[Any]:
    with browser_page() as page:
        page.goto(service.url + "/")
        page.fill("#api-key", ADMIN_KEY)
        page.click("#key-form button")
        page.wait_for_selector("text=key saved in this browser")
        yield page


def set_field(page: Any, path: str, value: str) -> None:
    page.fill(f"[name='{path}']", value)


@pytest.fixture(scope="module")
def form_job(page: Any, service: Stack) -> str:
    """A small LSTM ("dashboard-lstm") submitted from the form, once per module: its id.
    Epochs of a few seconds, so a page opened on it sees the curve growing."""
    page.goto(service.url + "/#/new")
    page.reload()  # a fresh form, at its defaults
    page.wait_for_selector("#total-parameters", timeout=120_000)
    set_field(page, "name", "dashboard-lstm")
    set_field(page, "units", "16")
    set_field(page, "embedding.dim", "16")
    set_field(page, "embedding.pretrained", "")
    page.check("[name='embedding.trainable']")
    set_field(page, "sequence.max_len", "64")
    set_field(page, "sequence.vocab_size", "5000")
    set_field(page, "epochs", str(EPOCHS))
    set_field(page, "batch_size", "32")
    set_field(page, "train_size", "4000")
    set_field(page, "test_size", "1000")
    page.wait_for_selector("#layers td")
    page.click("#submit")
    page.wait_for_url("**/#/jobs/*")
    return str(page.url.rsplit("/", 1)[1])


@pytest.fixture(scope="module")
def trained_job(service: Stack, form_job: str) -> dict[str, Any]:
    """The form's job, trained to the end (with its model version)."""
    return wait_for_job(service, form_job, seconds=600)


def test_1_the_form_counts_layers_and_shows_the_apis_errors_by_the_fields(page, service):
    page.goto(service.url + "/#/new")
    # Every default is the course's LSTM: the layer table as Keras counts it.
    page.wait_for_selector("#total-parameters", timeout=120_000)
    assert page.inner_text("#total-parameters") == "2,117,377"
    # Beside it, the memory the server's admission estimates, against its limit.
    assert re.fullmatch(r"[\d.]+ MiB of 4\.0 GiB", page.inner_text("#training-memory"))
    assert page.input_value("[name='architecture']") == "lstm"

    set_field(page, "epochs", "0")
    error = page.locator("[data-error='epochs']")
    error.wait_for()
    page.locator("[data-error='epochs']:not(:empty)").wait_for()
    assert "greater than or equal to 1" in error.inner_text()
    assert "received 0" in error.inner_text()


def test_2_a_job_submitted_from_the_form_gains_points_live(page, service, form_job):
    job_page = f"{service.url}/#/jobs/{form_job}"

    # The job list shows the running job's phase (then back to its page, still running).
    page.goto(service.url + "/#/jobs")
    page.wait_for_selector(f"tr[data-job='{form_job}'] .phase", timeout=120_000)
    screenshot(page, "job-list-running")
    page.goto(job_page)

    seen: set[int] = set()
    phases: set[str] = set()
    bar: set[str] = set()  # the bar's values while training
    details: set[str] = set()
    notes: set[str] = set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        points = page.locator("[data-chart='loss'] circle").count() // 2  # training and validation
        seen.add(points)
        # What the head shows while the job runs (read without waiting: it is redrawn).
        phases.update(page.locator("#progress .phase").all_inner_texts())
        if "training" in page.locator("#progress .phase").all_inner_texts():
            if not bar:
                screenshot(page, "job-page-running")
            bar.update(page.locator("#progress [role=progressbar]").evaluate_all(
                "nodes => nodes.map(n => n.getAttribute('aria-valuenow'))"))  # fmt: skip
        details.update(page.locator("#progress .progress-detail").all_inner_texts())
        notes.update(page.locator("#checkpoint").all_inner_texts())
        if points == EPOCHS and "succeeded" in page.inner_text("h2"):
            break
        time.sleep(0.2)
    assert max(seen) == EPOCHS, page.inner_text("main")
    assert len(seen - {0, EPOCHS}) >= 1, f"the curve never showed a partial run: {sorted(seen)}"
    assert "training" in phases, phases
    assert len(bar) >= 2, f"the bar never moved in training: {bar}"  # batches over all epochs
    assert any(re.search(r"of [\d,]+ batches · [\d,.]+/s · about .+ left", d) for d in details)
    assert any(re.fullmatch(r"checkpoint [\d.]+ (B|KiB|MiB)", note) for note in notes), notes
    page.wait_for_selector("#diagnosis strong")
    assert page.inner_text("#diagnosis strong") in {"underfitting", "good fit", "overfitting"}
    assert "accuracy" in page.inner_text("#test-metrics")
    assert "trainable" in page.inner_text("#parameters")
    # The reliability diagram: a bar per bin that holds test predictions, each with its
    # figures on hover, and the ECE the job's metrics hold.
    job = wait_for_job(service, form_job)
    page.wait_for_selector("[data-chart='reliability'] rect.bin")
    filled = [f"{b['lower']:.1f}" for b in job["reliability"] if b["count"]]
    bars = page.locator("[data-chart='reliability'] rect.bin")
    assert bars.evaluate_all("nodes => nodes.map(n => n.dataset.bin)") == filled
    assert "reviews" in (bars.first.locator("title").text_content() or "")
    assert float(page.inner_text("#calibration #ece")) == pytest.approx(
        job["test_metrics"]["ece"], abs=1e-4
    )
    # What drives it: the job's drivers, each side in order, the mean on hover.
    page.wait_for_selector("#drivers ol.drivers li")
    for side in ("positive", "negative"):
        shown = page.locator(f"#drivers ol[data-side='{side}'] mark").all_inner_texts()
        assert shown == [d["token"] for d in job["drivers"][side]]
    assert any(job["drivers"][side] for side in ("positive", "negative"))
    screenshot(page, "job-page")


def test_3_two_jobs_compared_with_their_differences_highlighted(page, service, trained_job):
    other = QUICK_DENSE_JOB | {"name": "dashboard-other", "epochs": 2}
    answer = httpx.post(f"{service.url}/v1/jobs", json=other, headers=ADMIN, timeout=30)
    other_id = answer.json()["id"]
    first = trained_job["id"]

    page.goto(service.url + "/#/jobs")
    for job_id in (first, other_id):
        page.check(f"tr[data-job='{job_id}'] input[type=checkbox]")
    page.click("text=Compare selected")
    page.wait_for_selector("#spec-diff")
    differing = page.locator("#spec-diff tr[data-differs='yes'] td:first-child").all_inner_texts()
    assert {"name", "architecture", "epochs", "sequence.max_len"} <= set(differing)
    assert "optimizer.name" not in differing  # both adam: not highlighted
    assert page.locator("[data-chart='validation accuracy'] path.series").count() >= 1


def test_4_pin_a_model_and_try_a_prediction(page, service, trained_job):
    page.goto(service.url + "/#/models")
    page.wait_for_selector("tr[data-version] button[data-pin]")
    version = page.locator("tr[data-version]").first.get_attribute("data-version")
    page.click(f"button[data-pin='{version}']")
    page.wait_for_selector("text=(pinned)")
    assert page.inner_text("#champion") == f"version {version}"
    screenshot(page, "models")

    page.goto(service.url + "/#/predict")
    page.fill("#reviews", "A wonderful, moving film.\nDreadful. A waste of two hours.")
    page.click("#score")
    page.wait_for_selector("#predictions td[data-label]")
    labels = page.locator("#predictions td[data-label]").all_inner_texts()
    assert len(labels) == 2 and set(labels) <= {"positive", "negative"}
    assert f"model version {version}" in page.inner_text("#predictions")
    # Explained (the default): every word the model read is marked by its contribution,
    # its value on hover, the review's text unchanged around the marks.
    marks = page.locator("#predictions .explained mark.word")
    assert marks.count() >= 4
    for index in range(marks.count()):
        mark = marks.nth(index)
        value = float(mark.get_attribute("data-contribution") or "nan")
        direction = "toward-positive" if value >= 0 else "toward-negative"
        assert direction in (mark.get_attribute("class") or "")
        assert mark.get_attribute("title") == f"{value:+.3f} to the log-odds"
    cells = page.locator("#predictions .explained p:first-child").all_inner_texts()
    assert cells == ["A wonderful, moving film.", "Dreadful. A waste of two hours."]
    assert page.locator("#predictions .top-tokens").count() == 2
    screenshot(page, "try-it-explained")


def wait_for_job(service: Stack, job_id: str, seconds: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    job = httpx.get(f"{service.url}/v1/jobs/{job_id}", headers=ADMIN, timeout=30).json()
    while job["status"] not in {"succeeded", "failed", "cancelled"} and time.monotonic() < deadline:
        time.sleep(1)
        job = httpx.get(f"{service.url}/v1/jobs/{job_id}", headers=ADMIN, timeout=30).json()
    assert job["status"] == "succeeded", job["error"] or service.log("worker")[-3000:]
    return dict(job)


def test_4b_an_ensemble_made_on_the_models_page_shows_its_members(page, service, trained_job):
    models = httpx.get(f"{service.url}/v1/models", headers=ADMIN, timeout=30).json()["items"]
    if len(models) < 2:  # a second member
        spec = QUICK_DENSE_JOB | {"name": "dashboard-member"}
        answer = httpx.post(f"{service.url}/v1/jobs", json=spec, headers=ADMIN, timeout=30)
        wait_for_job(service, answer.json()["id"])
    page.goto(service.url + "/#/models")
    page.reload()
    page.wait_for_selector("tr[data-version] input[data-member]")
    versions = page.locator("tr[data-version]").evaluate_all(
        "rows => rows.map(r => r.dataset.version)"
    )[:2]
    for version, weight in zip(versions, ["3", "1"], strict=True):
        page.check(f"input[data-member='{version}']")
        page.fill(f"input[data-weight='{version}']", weight)
    page.fill("#ensemble-name", "dashboard ensemble")
    page.click("#create-ensemble")
    page.wait_for_selector("#ensemble-job")
    job_id = page.get_attribute("#ensemble-job", "href").rsplit("/", 1)[1]
    version = wait_for_job(service, job_id)["model_version"]
    members = page.locator(f"td[data-members='{version}']")
    members.wait_for(timeout=15_000)
    assert members.inner_text() == f"{versions[0]} (0.75) + {versions[1]} (0.25)"
    screenshot(page, "models-ensemble")


def test_5_names_are_shown_as_text_never_run_as_html(page, service):
    hostile = '<img src=x onerror="window.pwned=1">'
    spec = QUICK_DENSE_JOB | {"name": hostile}
    assert httpx.post(f"{service.url}/v1/jobs", json=spec, headers=ADMIN, timeout=30).is_success
    page.goto(service.url + "/#/jobs")
    page.reload()
    page.wait_for_selector(f"text={hostile}")
    assert page.evaluate("window.pwned") is None
    assert page.locator("#jobs img").count() == 0


def test_6_a_recipe_fills_the_form_and_a_follow_up_trains_from_the_job_page(
    page, service, trained_job
):
    page.goto(service.url + "/#/new")
    page.reload()
    page.wait_for_selector("#recipe option[value='course-gru-32']", state="attached")
    page.select_option("#recipe", "course-gru-32")
    assert page.input_value("[name='architecture']") == "gru"
    assert page.input_value("[name='units']") == "32"
    assert page.input_value("[name='optimizer.name']") == "rmsprop"

    trained = trained_job
    page.goto(f"{service.url}/#/jobs/{trained['id']}")
    page.wait_for_selector("#follow-ups button[data-follow]")
    first = page.locator("#follow-ups button[data-follow]").first
    suggestion = first.get_attribute("data-follow")
    first.click()
    page.wait_for_url(lambda url: not url.endswith(f"#/jobs/{trained['id']}"))
    page.wait_for_selector("h2")
    assert f"dashboard-lstm + {suggestion}" in page.inner_text("h2")
    # The follow-up was submitted; it is cancelled here so that it does not hold the
    # module's one worker (some remedies train word vectors first) from later tests.
    follow_up = page.url.rsplit("/", 1)[1]
    job = httpx.get(f"{service.url}/v1/jobs/{follow_up}", headers=ADMIN, timeout=30).json()
    assert job["name"] == f"dashboard-lstm + {suggestion}"
    assert job["status"] in {"queued", "running"}
    cancel = httpx.post(f"{service.url}/v1/jobs/{follow_up}/cancel", headers=ADMIN, timeout=30)
    assert cancel.status_code == 202


def test_7_a_sweeps_points_are_listed_ranked(page, service):
    sweep = {
        "name": "dashboard sweep",
        "base": QUICK_DENSE_JOB,
        "grid": {"dropout": [0, 0.5]},
    }
    answer = httpx.post(f"{service.url}/v1/sweeps", json=sweep, headers=ADMIN, timeout=30)
    sweep_id = answer.json()["id"]
    # Both points trained: each has its best validation accuracy, and a rank.
    deadline = time.monotonic() + 300
    while True:
        ranked = httpx.get(f"{service.url}/v1/sweeps/{sweep_id}", headers=ADMIN, timeout=30)
        points = ranked.json()["points"]
        ended = ranked.json()["by_status"]
        if ended["succeeded"] + ended["failed"] + ended["cancelled"] == len(points) == 2:
            break
        assert time.monotonic() < deadline, ranked.json()
        time.sleep(1)
    assert [point["status"] for point in points] == ["succeeded", "succeeded"], points
    best_first = sorted(points, key=lambda point: -point["best_val_accuracy"])

    page.goto(f"{service.url}/#/sweeps")
    page.click(f"tr[data-sweep='{sweep_id}'] a")
    page.wait_for_selector("#sweep-points tbody tr a[href*='#/jobs/']")
    rows = page.locator("#sweep-points tbody tr")
    assert rows.count() == 2
    assert "dropout" in page.inner_text("#sweep-points thead")
    shown = rows.evaluate_all(
        "rows => rows.map(r => [r.cells[0].textContent,"
        " r.querySelector('a').getAttribute('href').split('/').pop()])"
    )
    assert [job_id for _, job_id in shown] == [point["job_id"] for point in best_first]
    assert [rank for rank, _ in shown] == ["1", "2"]


def test_8_the_embedding_explorer_plots_a_models_words(page, service, trained_job):
    version = trained_job["model_version"]
    page.goto(f"{service.url}/#/embeddings")
    page.wait_for_selector(f"#source option[value='{version}']", state="attached")
    page.select_option("#source", str(version))
    page.fill("#word", "good")
    page.click("#find")
    page.wait_for_selector("#neighbors td")
    assert page.locator("#neighbors tr").count() == 10
    page.fill("#words", "good bad great awful movie")
    page.click("#project")
    page.wait_for_selector("#projection text")
    labels = page.locator("#projection text").evaluate_all("nodes => nodes.map(n => n.textContent)")
    assert labels == ["good", "bad", "great", "awful", "movie"]
    screenshot(page, "embeddings")
