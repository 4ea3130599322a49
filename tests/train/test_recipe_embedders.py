"""Every recipe's exported embedder loads and embeds in a fresh process through the evaluation loader.

Default suite: for every recipe discovery finds, the engine builds the recipe's models at smoke scale and
writes ``export/embedder.keras`` with ``Trainer.export``, without training. One fresh ``python -c`` process,
importing nothing but ``lrfr_tf`` (as a user's would, and never ``lrfr_tf.train``), loads each file with
``lrfr_tf.eval.embedders.load_embedder`` and embeds the same faces: the embeddings must equal the in-process
ones, from the same classes (SR and RIM composites included) and the same preprocessing.

Slow: each recipe's documented smoke command (``python -m lrfr_tf.train --recipe=NAME --workdir=W
--config.scale=smoke``), then ``python -m lrfr_tf.evaluate --model=W/export/embedder.keras`` on the
embedded LFW sample.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from lrfr_tf.eval import reports
from lrfr_tf.eval.embedders import prepare_images
from lrfr_tf.train.engine import Trainer
from lrfr_tf.train.recipes import recipe_names
from test_train_recipes import smoke_config

REPO = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = REPO / "lrfr_tf" / "data" / "sample"
RECIPES = recipe_names()
ENV = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}

# The fresh process: reads jobs {"model", "embeddings", "description"} (one JSON line each) from stdin while
# the test is still exporting the next recipes; loads each model with the evaluation loader and embeds the
# faces of argv[1] with it (eagerly, as ``embed`` below).
FRESH_PROCESS = r"""
import json, sys
import numpy as np
from lrfr_tf.eval.embedders import load_embedder, prepare_images

faces = np.load(sys.argv[1])
for line in sys.stdin:
    job = json.loads(line)
    embedder = load_embedder(job["model"])
    raw = np.asarray(embedder.model(prepare_images(faces, embedder.preprocessing), training=False))
    np.save(job["embeddings"], raw / np.linalg.norm(raw, axis=1, keepdims=True))
    classes = [type(m).__name__ for m in (embedder.model, *embedder.model.layers)]
    train_modules = sorted(m for m in sys.modules if m.startswith("lrfr_tf.train"))
    json.dump({"classes": classes, "preprocessing": embedder.preprocessing.get_config(),
               "source": embedder.preprocessing_source, "train_modules": train_modules},
              open(job["description"], "w"))
"""


def embed(model, faces):
    """L2-normalised embeddings of uint8 faces by ``model`` with its own preprocessing (eager)."""
    raw = np.asarray(model(prepare_images(faces, model.preprocessing), training=False))
    return raw / np.linalg.norm(raw, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def faces():
    """Six faces of six people from the embedded CelebA sample, uint8 [6, 112, 112, 3]."""
    from lrfr_tf.data.images import load_images

    people = sorted(p for p in (SAMPLE / "celeba").iterdir() if p.is_dir())[:6]
    return load_images([str(sorted(p.iterdir())[0]) for p in people], progress=False)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, faces):
    """Per recipe (or why it was skipped): the engine's export, its model classes and in-process embeddings,
    and what one fresh process loaded from the file (a pipeline: it loads while the next recipe builds)."""
    root = tmp_path_factory.mktemp("recipe_embedders")
    np.save(root / "faces.npy", faces)
    log = open(root / "fresh_process.log", "w")
    fresh = subprocess.Popen([sys.executable, "-c", FRESH_PROCESS, str(root / "faces.npy")], cwd=root, env=ENV,
                             stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, text=True)
    result = {name: {} for name in RECIPES}
    try:
        for name in RECIPES:
            try:
                config = smoke_config(name)  # skips a recipe needing ../shared when it is absent (fails on CI)
            except pytest.skip.Exception as e:
                result[name]["skipped"] = str(e)
                continue
            trainer = Trainer(config, str(root / name))
            model = trainer.embedding_model()
            trainer.embedding_model = lambda model=model: model  # export writes this very model (built once)
            path = trainer.export(str(root / name / "export"), {"step": 0})
            job = {"model": path, "embeddings": str(root / f"{name}.npy"), "description": str(root / f"{name}.json")}
            try:
                fresh.stdin.write(json.dumps(job) + "\n")
                fresh.stdin.flush()
            except BrokenPipeError:  # the fresh process failed: its log is reported below
                break
            result[name].update(path=path, job=job, embeddings=embed(model, faces),
                                classes=[type(m).__name__ for m in (model, *model.layers)],
                                preprocessing=model.preprocessing.get_config())
        try:
            fresh.stdin.close()
        except BrokenPipeError:
            pass
        returncode = fresh.wait(timeout=900)
    finally:
        if fresh.poll() is None:
            fresh.kill()
        log.close()
    assert returncode == 0, (root / "fresh_process.log").read_text()[-3000:]
    for entry in result.values():
        if "job" in entry:
            entry["fresh_embeddings"] = np.load(entry["job"]["embeddings"])
            entry["fresh"] = json.loads(pathlib.Path(entry["job"]["description"]).read_text())
    return result


@pytest.mark.parametrize("name", RECIPES)
def test_exported_embedder_loads_and_embeds_in_a_fresh_process(name, exported, faces):
    entry = exported[name]
    if "skipped" in entry:
        pytest.skip(entry["skipped"])
    assert pathlib.Path(entry["path"]).name == "embedder.keras"
    expected, fresh = entry["embeddings"], entry["fresh_embeddings"]
    assert expected.shape == fresh.shape and expected.shape[0] == len(faces)
    np.testing.assert_allclose(fresh, expected, rtol=0, atol=1e-5)
    assert np.abs(expected - expected[:1]).max() > 1e-3, "every face got the same embedding"
    assert entry["fresh"]["classes"] == entry["classes"]
    assert entry["fresh"]["preprocessing"] == entry["preprocessing"] and entry["fresh"]["source"] == "model"
    assert entry["fresh"]["train_modules"] == [], "loading an embedder must not need lrfr_tf.train"


def test_composite_embedders_are_among_the_exports(exported):
    """The SR composites and RIM's student + assistant are among the classes the fresh process loaded."""
    composites = {"sl_margin": "SuperResolvedEmbedder", "ip_unet": "SuperResolvedEmbedder",
                  "rim": "ResidualAssistedStudent"}
    for recipe, cls in composites.items():
        if recipe in RECIPES and "skipped" not in exported[recipe]:
            assert cls in exported[recipe]["fresh"]["classes"], (recipe, exported[recipe]["fresh"]["classes"])


@pytest.mark.slow
@pytest.mark.parametrize("name", RECIPES)
def test_smoke_command_then_evaluate_cli(name, tmp_path):
    """The README's smoke command, then the evaluate CLI on its export, each in a fresh process: exit code 0."""
    smoke_config(name)  # skips a recipe needing ../shared when it is absent (fails on CI)
    workdir = tmp_path / "run"
    train = [sys.executable, "-m", "lrfr_tf.train", f"--recipe={name}", f"--workdir={workdir}", "--config.scale=smoke"]
    proc = subprocess.run(train, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    model = workdir / "export" / "embedder.keras"
    assert model.is_file()
    out = tmp_path / "eval"
    evaluate = [sys.executable, "-m", "lrfr_tf.evaluate", f"--model={model}", f"--data={SAMPLE / 'lfw'}",
                "--protocol=sweep", "--sizes=8", f"--out={out}", "--progress=false"]
    proc = subprocess.run(evaluate, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (report,) = reports.read_json(str(out / "report.json"))["models"]
    assert report["model"]["kind"] == "keras" and report["model"]["preprocessing_source"] == "model"
    assert set(report["verification"]) == {"hr", "cr_8", "er_8"}
    assert all(0.0 <= v["accuracy"] <= 1.0 for v in report["verification"].values())


def test_rim_exports_the_student_alone_beside_student_plus_assistant(tmp_path, faces):
    """RIM's ablation of its assistant (issue 15, S3): ``embedder_student.keras`` is the hallucinated probe through
    the student alone, the same weights as ``embedder.keras`` (student + assistant)."""
    from lrfr_tf.eval.embedders import load_embedder
    from lrfr_tf.models.super_resolved import SuperResolvedEmbedder

    if "rim" not in RECIPES:
        pytest.skip("no rim recipe")
    trainer = Trainer(smoke_config("rim"), str(tmp_path / "rim"))
    trainer.export(str(tmp_path / "export"), {"step": 0})
    both = load_embedder(str(tmp_path / "export" / "embedder.keras"))
    student = load_embedder(str(tmp_path / "export" / "embedder_student.keras"))
    hrn = trainer.models["hrn"]
    expected = embed(SuperResolvedEmbedder(trainer.models["fhn"], hrn.student), faces)
    np.testing.assert_allclose(embed(student.model, faces), expected, rtol=0, atol=1e-5)
    full = embed(both.model, faces)
    if hrn.student_adapter is None:
        assert np.abs(full - expected).max() > 1e-3  # the assistant's part is not in the ablation
    else:  # smoke: a narrow student; S_K + A_K live in the teacher's space through the adapters, S_K in its own
        assert full.shape[1] == hrn.teacher_embedding_dim and expected.shape[1] == hrn.student.embedding_dim
    assert student.preprocessing.get_config() == both.preprocessing.get_config()


def test_rim_assistant_init():
    from lrfr_tf.train.methods.rim import RIM

    config = smoke_config("rim")
    config.model.init = "student_start.keras"
    method = RIM.__new__(RIM)
    method.config = config
    assert method._assistant_config().init == "student_start.keras"  # default "model": as the student
    config.rim.assistant_init = ""
    assert method._assistant_config().init == "" and method._assistant_config().backbone == config.model.backbone
    config.rim.assistant_init = "teacher"
    with pytest.raises(ValueError, match="assistant_init"):
        method._assistant_config()
