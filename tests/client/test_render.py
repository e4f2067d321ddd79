"""What ``sentiment`` shows, from the API's JSON (no server): ``jobs submit --wait``'s
progress bar, and a job's outcome."""

from io import StringIO
from typing import Any

from rich.console import Console

from client.render import bar_fields, job_progress, outcome, plain


def job(status: str = "running", **progress: Any) -> dict[str, Any]:
    return {"name": "quick", "status": status, "progress": {"epoch": 1, "epochs": 6} | progress}


TRAINING = job(phase="training", done=1210, total=3750, unit="batches", fraction=0.32,
               rate=41.0, eta_seconds=62.4, training_epoch=2)  # fmt: skip


def rendered(*jobs: dict[str, Any], width: int = 160) -> str:
    console = Console(file=StringIO(), width=width, highlight=False, color_system=None)
    progress = job_progress(console)
    for each in jobs:
        progress.add_task("", **plain(bar_fields(each)))
    console.print(progress.make_tasks_table(progress.tasks))
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_training_moves_by_batches_over_all_epochs_with_the_rate_and_time_left():
    fields = bar_fields(TRAINING)
    assert (fields["completed"], fields["total"]) == (1210, 3750)
    assert fields["phase"] == "training 2/6"
    assert fields["count"] == "1,210/3,750 batches"
    assert (fields["rate"], fields["left"]) == ("41.0/s", "1 min 2 s left")
    assert fields["state"] == "running"
    line = rendered(TRAINING)
    for text in ("quick", "training 2/6", "1,210/3,750 batches", "41.0/s", "1 min 2 s left", "━"):
        assert text in line


def test_a_phase_without_a_measure_shows_its_name_and_a_bar_by_epochs():
    building = bar_fields(job(phase="building", done=0, total=None))
    assert building["phase"] == "building and compiling"
    assert (building["completed"], building["total"], building["count"]) == (1, 6, "epoch 1/6")
    assert building["rate"] == building["left"] == ""
    counting = bar_fields(job(phase="training_word_vectors", done=5000, unit="sentences"))
    assert counting["phase"] == "training word vectors"
    assert counting["count"] == "5,000 sentences, epoch 1/6"
    assert bar_fields(job(phase="a_new_phase"))["phase"] == "a new phase"  # a newer server


def test_outside_a_run_the_bar_counts_epochs():
    queued = bar_fields(job("queued", epoch=0))
    assert (queued["phase"], queued["completed"], queued["total"]) == ("", 0, 6)
    ended = bar_fields(job("succeeded", epoch=6))
    assert (ended["completed"], ended["count"], ended["state"]) == (6, "epoch 6/6", "succeeded")


def test_names_and_texts_are_shown_as_written_never_read_as_markup():
    odd = job(phase="a_[bold]_phase") | {"name": "[red]x[/red] [/oops]"}
    assert "[red]x[/red] [/oops]" in rendered(odd)  # no MarkupError for [/oops] either
    assert "a [bold] phase" in rendered(odd)


def test_a_narrow_terminal_keeps_the_bar_and_the_phase():
    line = rendered(TRAINING, width=80)
    assert "━" in line and "training" in line


def ensemble_job(**progress: Any) -> dict[str, Any]:
    return {"name": "ens", "status": "running", "progress": {"epoch": 0, "epochs": 0} | progress}


def test_an_ensemble_s_bar_shows_its_phases_and_no_epochs():
    evaluating = bar_fields(
        ensemble_job(phase="evaluating", done=5000, total=25000, unit="reviews")
    )
    assert (evaluating["phase"], evaluating["count"]) == ("evaluating", "5,000/25,000 reviews")
    exporting = bar_fields(ensemble_job(phase="exporting"))
    assert (exporting["phase"], exporting["count"]) == ("exporting", "")


def test_an_ended_job_s_outcome_names_its_metrics_reliability_diagnosis_and_version():
    ended = {
        "id": "abc", "status": "succeeded", "error": None, "model_version": 7,
        "test_metrics": {"accuracy": 0.8731, "loss": None},
        "reliability": [
            {"lower": 0.0, "upper": 0.1, "count": 1204, "mean_probability": 0.0312,
             "positive_rate": 0.0407},
            {"lower": 0.1, "upper": 0.2, "count": 0, "mean_probability": 0.0,
             "positive_rate": 0.0},
            {"lower": 0.9, "upper": 1.0, "count": 31, "mean_probability": 0.95,
             "positive_rate": 1.0},
        ],
        "diagnosis": {"fit": "overfitting", "reason": "val_loss rose", "remedies": ["dropout"]},
    }  # fmt: skip
    assert outcome(ended) == [
        "job abc succeeded",
        "test  accuracy 0.8731  loss —",
        "reliability  probability  reviews  mean prob  positive",
        "             0.0-0.1        1,204     0.0312    0.0407",
        "             0.9-1.0           31     0.9500    1.0000",
        "diagnosis: overfitting: val_loss rose",
        "  - dropout",
        "model version 7",
    ]
    assert outcome({"id": "x", "status": "failed", "error": "out of memory"}) == [
        "job x failed: out of memory"
    ]


def test_explained_predictions_list_their_top_words_with_signed_contributions():
    from client.render import predictions_table

    explanation = {
        "tokens": [
            {"token": "not good", "contribution": -0.613, "spans": []},
            {"token": "great", "contribution": 0.348, "spans": []},
        ]
    }
    answer = {
        "model_version": 4,
        "predictions": [
            {"label": "negative", "probability": 0.21, "explanation": explanation},
        ],
    }
    console = Console(file=StringIO(), width=200, highlight=False, color_system=None)
    console.print(predictions_table(["Not good, though the music is great."], answer))
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "top words" in shown and "not good -0.61, great +0.35" in shown
    plain_answer = {"model_version": 4, "predictions": [{"label": "negative", "probability": 0.2}]}
    console = Console(file=StringIO(), width=200, highlight=False, color_system=None)
    console.print(predictions_table(["x"], plain_answer))
    assert "top words" not in console.file.getvalue()  # type: ignore[attr-defined]
