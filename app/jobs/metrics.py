"""The jobs' metrics, read from the database at each scrape: the workers record
everything there, whichever process or host they run on. Jobs by state, the queue's
depth, finished epochs and their seconds, and the training throughput of running jobs."""

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.db import Database
from app.jobs import repository
from app.jobs.models import EpochMetric, Job, JobStatus


class JobsCollector(Collector):
    """Read at each scrape from the database, where the workers record everything."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[Metric]:
        states = GaugeMetricFamily("sentiment_jobs", "Training jobs by state.", labels=["state"])
        queued = GaugeMetricFamily("sentiment_queue_depth", "Jobs waiting for a worker.")
        epochs = CounterMetricFamily("sentiment_epochs", "Training epochs finished.")
        seconds = CounterMetricFamily(
            "sentiment_epoch_seconds", "Seconds spent in finished training epochs."
        )
        throughput = GaugeMetricFamily(
            "sentiment_training_reviews_per_second",
            "Training reviews per second of the running jobs, by architecture (their last "
            "epochs, added up). No job ids: any key may scrape, and series stay few.",
            labels=["architecture"],
        )
        with self.database.session_scope() as session:
            counts = dict(
                session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
            )
            for state in JobStatus:
                states.add_metric([state.value], counts.get(state.value, 0))
            queued.add_metric([], counts.get(JobStatus.queued.value, 0))
            done, spent = session.execute(
                select(func.count(), func.coalesce(func.sum(EpochMetric.seconds), 0.0))
            ).one()
            epochs.add_metric([], done)
            seconds.add_metric([], float(spent))
            rates: dict[str, float] = {}
            for job, last in _running_last_epochs(session):
                reviews = (job.spec.get("train_size") or 25_000) * (
                    1 - job.spec.get("validation_split", 0.2)
                )
                architecture = str(job.spec.get("architecture", "unknown"))
                rates[architecture] = rates.get(architecture, 0.0) + reviews / max(
                    last.seconds, 1e-9
                )
            for architecture, rate in sorted(rates.items()):
                throughput.add_metric([architecture], rate)
        yield from (states, queued, epochs, seconds, throughput)


def _running_last_epochs(session: Session) -> list[tuple[Job, EpochMetric]]:
    running = session.scalars(select(Job).where(Job.status == JobStatus.running)).all()
    latest = repository.latest_epochs(session, [job.id for job in running])
    return [(job, latest[job.id]) for job in running if job.id in latest]
