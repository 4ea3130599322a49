"""An export made by ``python -m lrfr_tf.export`` drives the edge runtime through its metadata (slow: the export
converts the pretrained MobileFaceNet)."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from lrfr_tf.edge.embedder import TFLiteEmbedder
from lrfr_tf.edge.inputs import read_image

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_an_lrfr_tf_export_carries_its_contract_to_the_camera(tmp_path, lfw_dir, mobilefacenet_tflite):
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([sys.executable, "-m", "lrfr_tf.export", f"--model={mobilefacenet_tflite}",
                             f"--out={tmp_path / 'exports'}", "--name=mfn", "--formats=tflite_fp32", "--no_gate"],
                            capture_output=True, text=True, env=env, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    model = tmp_path / "exports" / "mfn" / "1" / "tflite" / "mfn_fp32.tflite"
    exported, reference = TFLiteEmbedder(str(model)), TFLiteEmbedder(str(mobilefacenet_tflite))
    assert exported.preprocessing_source == "metadata" and exported.metadata["input"]["contract"] == "normalized"
    assert exported.preprocessing == reference.preprocessing
    faces = np.stack([read_image(str(p)) for p in sorted((lfw_dir / "aligned112" / "Ann_Veneman").glob("*.jpg"))[:4]])
    cosines = (exported.embed(faces) * reference.embed(faces)).sum(1)
    assert cosines.min() > 0.999, cosines

    people = tmp_path / "people" / "Ann_Veneman"
    people.mkdir(parents=True)
    for p in sorted((lfw_dir / "raw250" / "Ann_Veneman").glob("*.jpg"))[:2]:
        (people / p.name).write_bytes(p.read_bytes())
    gallery = tmp_path / "g.npz"
    run = lambda *a: subprocess.run([sys.executable, "-m", "lrfr_tf.edge", *a], capture_output=True, text=True,  # noqa: E731
                                    env=env, timeout=300)
    enrolled = run("enroll", f"--model={model}", f"--images={people.parent}", f"--out={gallery}")
    assert enrolled.returncode == 0, enrolled.stderr
    probe = sorted((lfw_dir / "raw250" / "Ann_Veneman").glob("*.jpg"))[2]
    identified = run("identify", f"--model={model}", f"--gallery={gallery}", f"--input={probe}", "--json")
    assert identified.returncode == 0, identified.stderr
    faces = json.loads(identified.stdout.splitlines()[0])["faces"]
    assert any(f["answer"] == "Ann_Veneman" for f in faces)
    refused = run("identify", f"--model={mobilefacenet_tflite}", f"--gallery={gallery}", f"--input={probe}")
    assert refused.returncode == 2 and "enrolled with another model" in refused.stderr
