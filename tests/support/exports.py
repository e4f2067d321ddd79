"""What tests score exported models with: a few reviews of every kind, and a SavedModel
loaded in a fresh process that imports TensorFlow alone."""

import json
import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

REVIEWS = [
    "One of the best films I have seen in years. <br /><br />Wonderful acting!",
    "Dreadful. A waste of two hours; the plot makes no sense.",
    "",
    "Café crème — naïve but charming 🎬",
    "<b>meh</b>",
]

LOAD_WITH_TENSORFLOW_ALONE = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    model = tf.saved_model.load(sys.argv[1])
    texts = json.loads(sys.stdin.read())
    scores = model.signatures["serving_default"](text=tf.constant(texts))["probability"]
    project = [m for m in sys.modules if m.split(".")[0] in ("app", "worker")]
    print(json.dumps({"scores": scores.numpy().tolist(), "project_modules": project}))
    """
)


EXPLAIN_WITH_TENSORFLOW_ALONE = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    model = tf.saved_model.load(sys.argv[1])
    texts = json.loads(sys.stdin.read())
    found = model.signatures["explain"](text=tf.constant(texts))
    out = {name: value.numpy().tolist() for name, value in found.items()}
    out["tokens"] = [[t.decode() for t in row] for row in out["tokens"]]
    out["method"] = [m.decode() for m in out["method"]]
    project = [m for m in sys.modules if m.split(".")[0] in ("app", "worker")]
    print(json.dumps({"explain": out, "project_modules": project}))
    """
)


def load_with_tensorflow_alone(
    folder: Path, texts: list[str], cwd: Path, script: str = LOAD_WITH_TENSORFLOW_ALONE
) -> dict[str, Any]:
    """The SavedModel's scores in a fresh process that imports TensorFlow alone, run
    from ``cwd`` (not the project folder: nothing of the project can be imported),
    and the project modules it loaded (none, when the export is self-contained)."""
    completed = subprocess.run(
        [sys.executable, "-c", script, str(folder)],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def without_explain(folder: Path, destination: Path) -> Path:
    """A copy of an exported model with its ``serving_default`` signature alone, as
    versions exported before explanations were: its manifest's checksums made anew."""
    import tensorflow as tf

    from app.registry import artifact

    loaded = tf.saved_model.load(str(folder))
    serving = loaded.signatures[artifact.SIGNATURE]
    tf.saved_model.save(loaded, str(destination), signatures={artifact.SIGNATURE: serving})
    shutil.copy(folder / artifact.VOCABULARY, destination / artifact.VOCABULARY)
    manifest = artifact.Manifest.read(folder)
    files = artifact.file_checksums(destination)
    replace(manifest, files=files).write(destination)
    return destination
