"""``sentiment``: submit and follow training jobs, manage models, score reviews.

    sentiment jobs submit spec.json --wait
    sentiment jobs list | show ID | cancel ID
    sentiment jobs follow-ups ID | follow-up ID SUGGESTION [--wait]
    sentiment recipes list | submit NAME [OVERRIDES.json] [--wait]
    sentiment sweeps create SWEEP.json [--wait] | list | show ID | cancel ID
    sentiment models list | show VERSION | pin VERSION | unpin
    sentiment models ensemble VERSION VERSION ... [--weights W W ...] [--name NAME] [--wait]
    sentiment predict "A wonderful film." ...      (or one review per line on stdin)

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
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from app.jobs.progress import PHASE_NAMES, Phase, duration
from client.api import FAILED, OK, USAGE, Api, ClientError

ENDED = {"succeeded", "failed", "cancelled"}
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _num(value: Any) -> str:
    return "—" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


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


def _epoch_line(epoch: dict[str, Any], total: int) -> str:
    return (
        f"epoch {epoch['epoch']}/{total}  loss {epoch['loss']:.4f}  acc {epoch['accuracy']:.4f}  "
        f"val_loss {epoch['val_loss']:.4f}  val_acc {epoch['val_accuracy']:.4f}  "
        f"({epoch['seconds']:.1f} s)"
    )


def _phase_name(phase: str) -> str:
    try:
        return PHASE_NAMES[Phase(phase)]
    except ValueError:  # a phase newer than this client
        return phase.replace("_", " ")


def bar_fields(job: dict[str, Any]) -> dict[str, Any]:
    """What the progress bar shows of a job (its JSON): its name, the phase, the bar's
    ``completed`` of ``total`` (the phase's units when it counts them, else epochs),
    the count, the rate, the time left and the status. The texts are plain, not markup."""
    progress = job["progress"]
    phase, done, total = progress.get("phase"), progress.get("done"), progress.get("total")
    unit = f" {progress['unit']}" if progress.get("unit") else ""
    # An ensemble's job has no epochs: its phases are its whole progress.
    epochs = f"epoch {progress['epoch']}/{progress['epochs']}" if progress["epochs"] else ""
    fields = {"name": job["name"], "phase": "", "count": epochs, "rate": "", "left": "",
              "state": job["status"]}  # fmt: skip
    if phase:
        fields["phase"] = _phase_name(phase)
        if phase == "training" and progress.get("training_epoch"):
            fields["phase"] += f" {progress['training_epoch']}/{progress['epochs']}"
        if progress.get("rate"):
            fields["rate"] = f"{progress['rate']:,.1f}/s"
        if progress.get("eta_seconds") is not None:
            fields["left"] = f"{duration(progress['eta_seconds'])} left"
    if phase and total:
        fields |= {"completed": min(done or 0, total), "total": total}
        fields["count"] = f"{done or 0:,}/{total:,}{unit}"
    else:
        fields |= {"completed": progress["epoch"], "total": progress["epochs"]}
        if phase and done:
            fields["count"] = ", ".join(part for part in (f"{done:,}{unit}", epochs) if part)
    return fields


def job_progress(console: Console) -> Progress:
    """The columns of a job's bar: name, phase, bar, count, rate, time left, status."""

    def text(field: str, style: str = "") -> TextColumn:
        return TextColumn(
            f"{{task.fields[{field}]}}",
            style=style,
            table_column=Column(no_wrap=True, overflow="ellipsis"),
        )

    # On a narrow terminal the texts shorten (with an ellipsis) before the bar does.
    return Progress(
        text("name", "bold"), text("phase"),
        BarColumn(bar_width=24, table_column=Column(min_width=10, no_wrap=True)),
        text("count"), text("rate"), text("left"), text("state"), TimeElapsedColumn(),
        console=console,
    )  # fmt: skip


def wait(api: Api, job_id: str, poll: float) -> int:
    """Follow a job to its end: a progress bar of the phase under way (its count, rate
    and time left; by epochs when the phase counts nothing), a line per epoch."""
    job = api.call("GET", f"/v1/jobs/{job_id}")
    seen, told_resumed = 0, None
    with job_progress(out) as progress:
        task = progress.add_task("", **_plain(bar_fields(job)))
        while True:
            metrics = api.call("GET", f"/v1/jobs/{job_id}/metrics", params={"since_epoch": seen})
            for epoch in metrics["epochs"]:
                progress.console.print(_epoch_line(epoch, metrics["epochs_total"]))
                seen = epoch["epoch"]
            job = api.call("GET", f"/v1/jobs/{job_id}")
            progress.update(task, **_plain(bar_fields(job)))
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


def _plain(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields with their texts escaped: the columns read them as rich markup."""
    return {k: escape(v) if isinstance(v, str) else v for k, v in fields.items()}


def _print_outcome(job: dict[str, Any]) -> None:
    out.print(
        f"job {job['id']} {job['status']}" + (f": {job['error']}" if job.get("error") else "")
    )
    if job.get("test_metrics"):
        out.print("test  " + "  ".join(f"{k} {_num(v)}" for k, v in job["test_metrics"].items()))
    if job.get("diagnosis"):
        diagnosis = job["diagnosis"]
        out.print(f"diagnosis: {diagnosis['fit']}: {diagnosis['reason']}")
        for remedy in diagnosis.get("remedies", []):
            out.print(f"  - {remedy}")
    if job.get("model_version"):
        out.print(f"model version {job['model_version']}")


def jobs_table(page: dict[str, Any]) -> Table:
    table = Table("id", "name", "architecture", "status", "progress", "best val acc", "test acc")
    for job in page["items"]:
        table.add_row(
            job["id"], job["name"], _kind(job["spec"]), job["status"],
            job["progress"]["text"], _num(job["best_val_accuracy"]),
            _num((job.get("test_metrics") or {}).get("accuracy")),
        )  # fmt: skip
    return table


def _kind(spec: dict[str, Any]) -> str:
    """A job's architecture, or "ensemble"."""
    return "ensemble" if spec.get("kind") == "ensemble" else str(spec.get("architecture"))


def members_text(model: dict[str, Any]) -> str:
    """An ensemble's members, "3 (0.50) + 5 (0.50)"; "" for a trained model."""
    members = model.get("members") or []
    return " + ".join(f"{m['version']} ({m['weight']:.2f})" for m in members)


def models_table(page: dict[str, Any]) -> Table:
    table = Table("version", "name", "status", "test acc", "f1", "aliases", "champion",
                  "members (weights)")  # fmt: skip
    champion = page.get("champion") or {}
    for model in page["items"]:
        table.add_row(
            str(model["version"]), model["name"] or "—", model["status"],
            _num(model["test_metrics"].get("accuracy")), _num(model["test_metrics"].get("f1")),
            ", ".join(model["aliases"]),
            f"yes ({champion.get('reason')})" if model["champion"] else "",
            members_text(model),
        )  # fmt: skip
    return table


def model_table(model: dict[str, Any]) -> Table:
    return models_table({"items": [model], "champion": None})


def sweep_table(sweep: dict[str, Any]) -> Table:
    names = list(sweep["points"][0]["values"]) if sweep["points"] else []
    table = Table("rank", *names, "status", "progress", "best val acc", "test acc", "job",
                  title=f"{sweep['name']}: {sweep['status']}")  # fmt: skip
    for point in sweep["points"]:
        table.add_row(
            str(point["rank"] or "—"), *(str(point["values"].get(n)) for n in names),
            point["status"], f"{point['epoch']}/{point['epochs']}",
            _num(point["best_val_accuracy"]), _num(point["test_accuracy"]), point["job_id"],
        )  # fmt: skip
    return table


def wait_sweep(api: Api, sweep_id: str, poll: float) -> int:
    """Follow a sweep to its end: a progress bar by finished points."""
    sweep = api.call("GET", f"/v1/sweeps/{sweep_id}")
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total} points"), TimeElapsedColumn(),
                  console=out) as progress:  # fmt: skip
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


def follow_ups_table(page: dict[str, Any]) -> Table:
    table = Table("suggestion", "changes", "why", title=f"the job {page['fit'].replace('_', ' ')}")
    for item in page["items"]:
        changes = ", ".join(f"{k}={v}" for k, v in item["changes"].items())
        table.add_row(item["id"], changes, item["rationale"])
    return table


def recipes_table(page: dict[str, Any]) -> Table:
    table = Table("recipe", "course", "description")
    for recipe in page["items"]:
        course = (
            f"{recipe['course_accuracy']} ({recipe['course_metric']})"
            if recipe["course_accuracy"]
            else ""
        )
        table.add_row(recipe["name"], course, recipe["description"])
    return table


def sweeps_table(page: dict[str, Any]) -> Table:
    """The list of sweeps, one row each (``sweep_table`` is one sweep's points)."""
    table = Table("id", "name", "status", "points", "succeeded", "best val acc")
    for sweep in page["items"]:
        best = sweep["points"][0]["best_val_accuracy"] if sweep["points"] else None
        table.add_row(sweep["id"], sweep["name"], sweep["status"], str(sweep["total"]),
                      str(sweep["by_status"]["succeeded"]), _num(best))  # fmt: skip
    return table


def predictions_table(texts: list[str], answer: dict[str, Any]) -> Table:
    table = Table(
        "label", "probability", "review", title=f"model version {answer['model_version']}"
    )
    for text, prediction in zip(texts, answer["predictions"], strict=True):
        table.add_row(prediction["label"], f"{prediction['probability']:.3f}", text[:80])
    return table


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
        out.print(_epoch_line(epoch, job["progress"]["epochs"]))
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
    answer = api.call("POST", "/v1/predict", json={"texts": texts})
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
