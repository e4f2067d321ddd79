"""What ``sentiment`` shows: tables of jobs, models, sweeps and predictions, a job's
progress bar and its outcome, as rich renderables and plain lines. Nothing here calls
the API or prints: the commands in ``client/cli.py`` do, and the tests render these
without a server."""

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from app.jobs.progress import PHASE_NAMES, Phase, duration


def num(value: Any) -> str:
    """A metric as the tables show it: four decimals, "—" when there is none."""
    return "—" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def epoch_line(epoch: dict[str, Any], total: int) -> str:
    """One epoch's metrics on a line, as ``jobs submit --wait`` and ``jobs show`` print it."""
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


def plain(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields with their texts escaped: the columns read them as rich markup."""
    return {k: escape(v) if isinstance(v, str) else v for k, v in fields.items()}


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


def sweep_progress(console: Console) -> Progress:
    """A sweep's bar: its name, the bar, the points ended of all, the time taken."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total} points"), TimeElapsedColumn(),
                    console=console)  # fmt: skip


def outcome(job: dict[str, Any]) -> list[str]:
    """An ended job's lines: its status (and error), test metrics and their reliability
    diagram, diagnosis, version."""
    lines = [f"job {job['id']} {job['status']}" + (f": {job['error']}" if job.get("error") else "")]
    if job.get("test_metrics"):
        lines.append("test  " + "  ".join(f"{k} {num(v)}" for k, v in job["test_metrics"].items()))
    if job.get("reliability"):
        lines += reliability_lines(job["reliability"])
    if job.get("diagnosis"):
        diagnosis = job["diagnosis"]
        lines.append(f"diagnosis: {diagnosis['fit']}: {diagnosis['reason']}")
        lines += [f"  - {remedy}" for remedy in diagnosis.get("remedies", [])]
    if job.get("model_version"):
        lines.append(f"model version {job['model_version']}")
    return lines


def reliability_lines(bins: list[dict[str, Any]]) -> list[str]:
    """The reliability diagram as a table of text: per bin of predicted probability, the
    test reviews in it, their mean probability and their share of positives (calibrated:
    the two agree). Empty bins are left out."""
    lines = ["reliability  probability  reviews  mean prob  positive"]
    for b in bins:
        if b["count"]:
            probability = f"{b['lower']:.1f}-{b['upper']:.1f}"
            lines.append(
                f"             {probability:<11}  {b['count']:>7,}"
                f"  {b['mean_probability']:>9.4f}  {b['positive_rate']:>8.4f}"
            )
    return lines


def jobs_table(page: dict[str, Any]) -> Table:
    table = Table("id", "name", "architecture", "status", "progress", "best val acc", "test acc")
    for job in page["items"]:
        table.add_row(
            job["id"], job["name"], _kind(job["spec"]), job["status"],
            job["progress"]["text"], num(job["best_val_accuracy"]),
            num((job.get("test_metrics") or {}).get("accuracy")),
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
            num(model["test_metrics"].get("accuracy")), num(model["test_metrics"].get("f1")),
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
            num(point["best_val_accuracy"]), num(point["test_accuracy"]), point["job_id"],
        )  # fmt: skip
    return table


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
                      str(sweep["by_status"]["succeeded"]), num(best))  # fmt: skip
    return table


def predictions_table(texts: list[str], answer: dict[str, Any]) -> Table:
    """Each review's label and probability; with explanations, the words that moved it
    most, each with its signed share of the log-odds (``+`` toward positive)."""
    explained = any(p.get("explanation") for p in answer["predictions"])
    columns = ["label", "probability", "review", *(["top words (log-odds)"] if explained else [])]
    table = Table(*columns, title=f"model version {answer['model_version']}")
    for text, prediction in zip(texts, answer["predictions"], strict=True):
        cells = [prediction["label"], f"{prediction['probability']:.3f}", text[:80]]
        if explained:
            cells.append(top_words(prediction["explanation"]))
        table.add_row(*cells)
    return table


def top_words(explanation: dict[str, Any]) -> str:
    """``not good -0.61, great +0.35``: the listed tokens and their contributions."""
    return ", ".join(f"{t['token']} {t['contribution']:+.2f}" for t in explanation["tokens"])
