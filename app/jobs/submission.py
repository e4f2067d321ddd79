"""What the routes that submit jobs share (POST /v1/jobs, recipes, follow-ups): the
Idempotency-Key header, the other answers they document, and the answer itself."""

from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response

from app.http.errors import error_responses
from app.jobs.queue import JobQueue
from app.jobs.schemas import JobOut
from app.jobs.service import Submission

IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=200,
        description="Resubmitting with the same key answers the same job.",
    ),
]
# How a submission answers besides 202.
SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Replayed: this Idempotency-Key already made the job.", "model": JobOut},
    **error_responses(409, 413, 429, e409="Idempotency-Key reused with another spec."),
}


async def job_queue(request: Request) -> JobQueue:
    queue: JobQueue = request.app.state.queue
    return queue


QueueDep = Annotated[JobQueue, Depends(job_queue)]


def answer_submission(response: Response, submission: Submission) -> JobOut:
    """202 with ``Location``, or 200 for a replayed Idempotency-Key."""
    job = submission.details.job
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    if not submission.created:
        response.status_code = 200
    return JobOut.of(submission.details)
