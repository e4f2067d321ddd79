"""``sentiment``: submit and follow training jobs, manage models, score reviews.

    sentiment jobs submit spec.json --wait
    sentiment jobs list | show ID | cancel ID
    sentiment jobs follow-ups ID | follow-up ID SUGGESTION [--wait]
    sentiment recipes list | submit NAME [OVERRIDES.json] [--wait]
    sentiment sweeps create SWEEP.json [--wait] | list | show ID | cancel ID
    sentiment models list | show VERSION | pin VERSION | unpin
    sentiment models ensemble VERSION VERSION ... [--weights W W ...] [--name NAME] [--wait]
    sentiment predict "A wonderful film." ...      (or one review per line on stdin)
    sentiment predict --explain "Not good."        (and the words that moved the score)

The service's URL and API key come from --url and --key, or SENTIMENT_URL and
SENTIMENT_KEY. Exit codes: 0 done, 1 the job failed or was cancelled (or another
error), 2 bad input, 3 no or wrong key, 4 not found, 5 service unreachable or busy.
"""

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from client.api import FAILED, OK, USAGE, Api, ClientError
from client.render import (
    bar_fields,
    epoch_line,
    follow_ups_table,
    job_progress,
    jobs_table,
    model_table,
    models_table,
    outcome,
    plain,
    predictions_table,
    recipes_table,
    sweep_progress,
    sweep_table,
    sweeps_table,
)

ENDED = {"succeeded", "failed", "cancelled"}
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _read_spec(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as error:
        raise ClientError(f"cannot read the spec {path!r}: {error.strerror}", USAGE) from error
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as error:
        raise ClientError(
            f"the spec {path!r} is not valid JSON: {error.msg} at line {error.lineno}, "
            f"column {error.colno}",
            USAGE,
        ) from error
    if not isinstance(spec, dict):
        raise ClientError(
            f"the spec must be a JSON object; {path!r} holds {type(spec).__name__}", USAGE
        )
    return spec


def wait(api: Api, job_id: str, poll: float) -> int:
    """Follow a job to its end: a progress bar of the phase under way (its count, rate
    and time left; by epochs when the phase counts nothing), a line per epoch."""
    job = api.call("GET", f"/v1/jobs/{job_id}")
    seen, told_resumed = 0, None
    with job_progress(out) as progress:
        task = progress.add_task("", **plain(bar_fields(job)))
        while True:
            metrics = api.call("GET", f"/v1/jobs/{job_id}/metrics", params={"since_epoch": seen})
            for epoch in metrics["epochs"]:
                progress.console.print(epoch_line(epoch, metrics["epochs_total"]))
                seen = epoch["epoch"]
            job = api.call("GET", f"/v1/jobs/{job_id}")
            progress.update(task, **plain(bar_fields(job)))
            resumed = job["progress"].get("resumed_after_epoch")
            if resumed and resumed != told_resumed:
                told_resumed = resumed
                progress.console.print(
                    f"resumed after epoch {resumed} (an earlier worker stopped; "
                    "its epochs are kept)"
                )
            if job["status"] in ENDED and seen >= job["progress"]["epoch"]:
                break
            time.sleep(poll)
    _print_outcome(job)
    return OK if job["status"] == "succeeded" else FAILED


def _print_outcome(job: dict[str, Any]) -> None:
    for line in outcome(job):
        out.print(line)


def wait_sweep(api: Api, sweep_id: str, poll: float) -> int:
    """Follow a sweep to its end: a progress bar by finished points."""
    sweep = api.call("GET", f"/v1/sweeps/{sweep_id}")
    with sweep_progress(out) as progress:
        task = progress.add_task(sweep["name"], total=sweep["total"])
        while True:
            sweep = api.call("GET", f"/v1/sweeps/{sweep_id}")
            ended = sum(sweep["by_status"][s] for s in ("succeeded", "failed", "cancelled"))
            progress.update(task, completed=ended)
            if sweep["status"] == "finished":
                break
            time.sleep(poll)
    out.print(sweep_table(sweep))
    return OK if sweep["by_status"]["succeeded"] == sweep["total"] else FAILED


def submitted(api: Api, job: dict[str, Any], args: argparse.Namespace) -> int:
    out.print(f"submitted job {job['id']} ({job['name']}): {job['status']}")
    return wait(api, job["id"], args.poll) if args.wait else OK


def _show(
    args: argparse.Namespace, data: dict[str, Any], table: Callable[[dict[str, Any]], Table]
) -> int:
    """The API's JSON with --json, else a table of it (built only then: JSON needs no table)."""
    out.print_json(data=data) if args.json else out.print(table(data))
    return OK


# The handlers: one per subcommand, set on its parser as ``handler`` and called by main().


def jobs_submit(args: argparse.Namespace, api: Api) -> int:
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else {}
    job = api.call("POST", "/v1/jobs", json=_read_spec(args.spec), headers=headers)
    if args.json and not args.wait:  # with --wait, the progress is the output
        out.print_json(data=job)
        return OK
    return submitted(api, job, args)


def jobs_list(args: argparse.Namespace, api: Api) -> int:
    params = {"limit": args.limit} | ({"status": args.status} if args.status else {})
    return _show(args, api.call("GET", "/v1/jobs", params=params), jobs_table)


def jobs_show(args: argparse.Namespace, api: Api) -> int:
    job = api.call("GET", f"/v1/jobs/{args.id}")
    if args.json:
        out.print_json(data=job)
        return OK
    out.print(f"{job['name']}  {job['status']}  {job['progress']['text']}")
    for epoch in api.call("GET", f"/v1/jobs/{args.id}/metrics")["epochs"]:
        out.print(epoch_line(epoch, job["progress"]["epochs"]))
    _print_outcome(job)
    return OK


def jobs_cancel(args: argparse.Namespace, api: Api) -> int:
    job = api.call("POST", f"/v1/jobs/{args.id}/cancel")
    out.print(
        f"job {job['id']}: {job['status']}" + (" (stopping)" if job["status"] == "running" else "")
    )
    return OK


def jobs_follow_ups(args: argparse.Namespace, api: Api) -> int:
    return _show(args, api.call("GET", f"/v1/jobs/{args.id}/follow-ups"), follow_ups_table)


def jobs_follow_up(args: argparse.Namespace, api: Api) -> int:
    body = {"suggestion": args.suggestion}
    return submitted(api, api.call("POST", f"/v1/jobs/{args.id}/follow-up", json=body), args)


def recipes_list(args: argparse.Namespace, api: Api) -> int:
    return _show(args, api.call("GET", "/v1/recipes"), recipes_table)


def recipes_submit(args: argparse.Namespace, api: Api) -> int:
    overrides = _read_spec(args.overrides) if args.overrides else {}
    return submitted(api, api.call("POST", f"/v1/recipes/{args.name}/jobs", json=overrides), args)


def sweeps_create(args: argparse.Namespace, api: Api) -> int:
    sweep = api.call("POST", "/v1/sweeps", json=_read_spec(args.sweep))
    out.print(f"started sweep {sweep['id']} ({sweep['name']}): {sweep['total']} points")
    return wait_sweep(api, sweep["id"], args.poll) if args.wait else OK


def sweeps_list(args: argparse.Namespace, api: Api) -> int:
    return _show(args, api.call("GET", "/v1/sweeps"), sweeps_table)


def sweeps_show(args: argparse.Namespace, api: Api) -> int:
    return _show(args, api.call("GET", f"/v1/sweeps/{args.id}"), sweep_table)


def sweeps_cancel(args: argparse.Namespace, api: Api) -> int:
    return _show(args, api.call("POST", f"/v1/sweeps/{args.id}/cancel"), sweep_table)


def models_list(args: argparse.Namespace, api: Api) -> int:
    return _show(args, api.call("GET", "/v1/models"), models_table)


def models_show(args: argparse.Namespace, api: Api) -> int:
    return _show(args, api.call("GET", f"/v1/models/{args.version}"), model_table)


def models_ensemble(args: argparse.Namespace, api: Api) -> int:
    body = {
        "name": args.name or "ensemble-" + "-".join(str(v) for v in args.versions),
        "members": args.versions,
        "weights": args.weights or "equal",
    }
    job = api.call("POST", "/v1/models/ensembles", json=body)
    if args.json and not args.wait:
        out.print_json(data=job)
        return OK
    return submitted(api, job, args)


def models_pin(args: argparse.Namespace, api: Api) -> int:
    api.call("PUT", f"/v1/models/aliases/{args.alias}", json={"version": args.version})
    out.print(f"{args.alias} -> version {args.version}")
    return OK


def models_unpin(args: argparse.Namespace, api: Api) -> int:
    api.call("DELETE", f"/v1/models/aliases/{args.alias}")
    out.print(f"{args.alias} unpinned")
    return OK


def predict(args: argparse.Namespace, api: Api) -> int:
    texts = (
        args.texts
        if args.texts and args.texts != ["-"]
        else [line.strip() for line in sys.stdin if line.strip()]
    )
    if not texts:
        raise ClientError(
            "nothing to score: give reviews as arguments or one per line on stdin", USAGE
        )
    body: dict[str, Any] = {"texts": texts}
    if args.explain:
        body |= {"explain": True, "explain_top": args.top}
    answer = api.call("POST", "/v1/predict", json=body)
    return _show(args, answer, lambda answer: predictions_table(texts, answer))


def _command(
    group: "argparse._SubParsersAction[argparse.ArgumentParser]",
    name: str,
    handler: Callable[[argparse.Namespace, Api], int],
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """A subcommand whose parsed arguments carry the handler that main() calls."""
    command = group.add_parser(name, **kwargs)
    command.set_defaults(handler=handler)
    return command


def _wait_options(
    command: argparse.ArgumentParser,
    poll: float = 1.0,
    wait_help: str | None = None,
    poll_help: str | None = None,
) -> None:
    """--wait and --poll, for the commands that start a job or a sweep."""
    command.add_argument("--wait", action="store_true", help=wait_help)
    command.add_argument("--poll", type=float, default=poll, help=poll_help)


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="sentiment", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    main.add_argument(
        "--url",
        default=os.environ.get("SENTIMENT_URL", "http://127.0.0.1:8000"),
        help="the service (default: SENTIMENT_URL or http://127.0.0.1:8000)",
    )
    main.add_argument(
        "--key", default=os.environ.get("SENTIMENT_KEY"), help="an API key (default: SENTIMENT_KEY)"
    )
    main.add_argument("--json", action="store_true", help="print the API's JSON")
    groups = main.add_subparsers(dest="group", required=True)

    jobs = groups.add_parser("jobs", help="training jobs").add_subparsers(
        dest="action", required=True
    )
    submit = _command(
        jobs, "submit", jobs_submit, help="submit a spec (a JSON file, or - for stdin)"
    )
    submit.add_argument("spec")
    _wait_options(submit, wait_help="follow the job to its end", poll_help="seconds between polls")
    submit.add_argument("--idempotency-key", help="resubmitting with it answers the same job")
    listing = _command(jobs, "list", jobs_list, help="your jobs, newest first")
    listing.add_argument(
        "--status", choices=["queued", "running", "succeeded", "failed", "cancelled"]
    )
    listing.add_argument("--limit", type=int, default=20)
    _command(jobs, "show", jobs_show, help="a job and its epochs").add_argument("id")
    _command(jobs, "cancel", jobs_cancel, help="cancel a queued or running job").add_argument("id")
    _command(
        jobs, "follow-ups", jobs_follow_ups, help="next specs to try, from the diagnosis"
    ).add_argument("id")
    follow = _command(jobs, "follow-up", jobs_follow_up, help="submit one of a job's follow-ups")
    follow.add_argument("id")
    follow.add_argument("suggestion")
    _wait_options(follow)

    recipes = groups.add_parser("recipes", help="named specs").add_subparsers(
        dest="action", required=True
    )
    _command(recipes, "list", recipes_list, help="the course's experiments and best")
    by_recipe = _command(
        recipes, "submit", recipes_submit, help="submit a recipe, with overrides (a JSON file)"
    )
    by_recipe.add_argument("name")
    by_recipe.add_argument("overrides", nargs="?", help="a partial spec; - for stdin")
    _wait_options(by_recipe)

    sweeps = groups.add_parser("sweeps", help="grids and random searches").add_subparsers(
        dest="action", required=True
    )
    create = _command(
        sweeps, "create", sweeps_create, help="start a sweep (a JSON file, or - for stdin)"
    )
    create.add_argument("sweep")
    _wait_options(create, poll=2.0, wait_help="follow it to its end")
    _command(sweeps, "list", sweeps_list, help="your sweeps")
    _command(sweeps, "show", sweeps_show, help="a sweep's points, ranked").add_argument("id")
    _command(
        sweeps, "cancel", sweeps_cancel, help="cancel a sweep's waiting and running jobs"
    ).add_argument("id")

    models = groups.add_parser("models", help="the model registry").add_subparsers(
        dest="action", required=True
    )
    _command(models, "list", models_list, help="versions, metrics, champion, members")
    _command(models, "show", models_show, help="one version").add_argument("version", type=int)
    ensemble = _command(
        models,
        "ensemble",
        models_ensemble,
        help="make a version that averages versions' probabilities (a job: evaluated, registered)",
    )
    ensemble.add_argument("versions", type=int, nargs="+", help="two or more versions")
    ensemble.add_argument(
        "--weights", type=float, nargs="+", help="one per version (default: equal)"
    )
    ensemble.add_argument("--name", help="default: ensemble-<versions>")
    _wait_options(ensemble, wait_help="follow the job to its end")
    pin = _command(models, "pin", models_pin, help="pin an alias (champion: which version serves)")
    pin.add_argument("version", type=int)
    pin.add_argument("--alias", default="champion")
    unpin = _command(models, "unpin", models_unpin, help="unpin an alias")
    unpin.add_argument("--alias", default="champion")

    scoring = _command(groups, "predict", predict, help="score reviews with the champion")
    scoring.add_argument(
        "texts", nargs="*", help="reviews; none or - reads one per line from stdin"
    )
    scoring.add_argument(
        "--explain", action="store_true", help="show the words that moved each score most"
    )
    scoring.add_argument("--top", type=int, default=5, help="words to show with --explain")
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    api = Api(args.url, args.key)
    try:
        return args.handler(args, api)  # set by the subcommand's parser
    except ClientError as error:
        err.print(f"[red]error:[/red] {error.message}", markup=True)
        for detail in error.details:
            err.print(f"  {detail}", markup=False)
        return error.code
    except KeyboardInterrupt:
        return 130
