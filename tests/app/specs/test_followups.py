"""Next-step advice: the course's remedies as concrete next specs, and submitting one."""

from fastapi.testclient import TestClient

from app.core.types import utcnow
from app.jobs.models import Job, JobStatus
from app.specs.followups import Suggestion, suggestions
from app.specs.spec import TrainingSpec
from tests.support.api import session_of

LSTM = TrainingSpec.model_validate({"name": "lstm", "epochs": 6})
DENSE = TrainingSpec.model_validate({"name": "dense", "architecture": "dense"})


def by_id(spec: TrainingSpec, fit: str) -> dict[str, Suggestion]:
    return {s.id: s for s in suggestions(spec, {"fit": fit})}


def test_overfitting_gets_dropout_l2_a_smaller_network_and_early_stopping():
    offered = by_id(LSTM, "overfitting")
    assert list(offered) == [
        "more-dropout",
        "l2-regularization",
        "smaller-network",
        "early-stopping",
    ]
    assert offered["more-dropout"].spec.dropout == 0.2
    assert offered["more-dropout"].spec.recurrent_dropout == 0.2
    assert offered["l2-regularization"].spec.regularization.l2 == 0.001
    assert offered["smaller-network"].spec.units == 64
    stopping = offered["early-stopping"].spec.early_stopping
    assert stopping is not None and stopping.restore_best_weights is True
    for suggestion in offered.values():  # one remedy each; the rest of the spec is kept
        assert suggestion.spec.epochs == 6 and suggestion.spec.architecture == "lstm"
        assert suggestion.spec.name.startswith("lstm + ")


def test_the_dropout_remedy_climbs_to_half_and_stops_there():
    half = TrainingSpec.model_validate({"dropout": 0.4, "recurrent_dropout": 0.5})
    assert by_id(half, "overfitting")["more-dropout"].spec.dropout == 0.5
    full = TrainingSpec.model_validate({"dropout": 0.5, "recurrent_dropout": 0.5})
    assert "more-dropout" not in by_id(full, "overfitting")  # would change nothing


def test_underfitting_gets_capacity_epochs_and_trainable_embeddings():
    offered = by_id(DENSE, "underfitting")
    assert offered["more-units"].spec.hidden_layers == [32]
    assert offered["more-epochs"].spec.epochs == 12
    assert offered["trainable-embeddings"].spec.embedding.trainable is True
    lstm = by_id(LSTM, "underfitting")
    assert lstm["more-layers"].spec.recurrent_layers == 2 and lstm["more-units"].spec.units == 256


def test_a_good_fit_trains_longer_or_bigger_and_no_diagnosis_offers_nothing():
    assert set(by_id(LSTM, "good_fit")) == {"longer-with-early-stopping", "bigger-with-dropout"}
    assert suggestions(LSTM, None) == []


def finished_job(api: TestClient, owner: str, fit: str) -> str:
    with session_of(api) as session:
        job = Job(
            name="lstm", status=JobStatus.succeeded, spec=LSTM.model_dump(mode="json"),
            owner_key_id=owner, epochs_total=6, epochs_done=6, cancel_requested=False,
            attempts=1, created_at=utcnow(), diagnosis={"fit": fit, "reason": "r", "remedies": []},
        )  # fmt: skip
        session.add(job)
        session.flush()
        return job.id


def test_follow_ups_over_http(api):
    job_id = finished_job(api, "operator", "overfitting")  # the test's admin key is the operator's
    page = api.get(f"/v1/jobs/{job_id}/follow-ups").json()
    assert page["fit"] == "overfitting"
    assert page["items"][0]["changes"] == {"dropout": 0.2, "recurrent_dropout": 0.2}
    answer = api.post(f"/v1/jobs/{job_id}/follow-up", json={"suggestion": "l2-regularization"})
    assert answer.status_code == 202, answer.text
    assert answer.json()["spec"]["regularization"]["l2"] == 0.001
    assert answer.json()["status"] == "queued"

    unknown = api.post(f"/v1/jobs/{job_id}/follow-up", json={"suggestion": "more-gpus"})
    assert unknown.status_code == 422 and "more-dropout" in unknown.json()["error"]["message"]
    queued = answer.json()["id"]
    assert api.get(f"/v1/jobs/{queued}/follow-ups").status_code == 409
    others = finished_job(api, "someone-else", "overfitting")
    assert api.get(f"/v1/jobs/{others}/follow-ups").status_code == 200  # an admin sees all


def test_a_remedy_never_undoes_what_the_spec_has_beyond_it():
    # Dropout above 0.5, L2 above its cap, fewer than 4 units: the old rules "raised"
    # them down (or "shrank" the network up); now the remedy is not offered at all.
    strong = TrainingSpec.model_validate(
        {"dropout": 0.7, "recurrent_dropout": 0.6, "regularization": {"l2": 0.05}, "units": 2}
    )
    offered = by_id(strong, "overfitting")
    assert list(offered) == ["early-stopping"]
    assert "trainable-embeddings" not in by_id(
        TrainingSpec.model_validate({"architecture": "gru", "embedding": {"trainable": True}}),
        "underfitting",
    )
