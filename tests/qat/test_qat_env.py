"""The QAT route end to end, small: run in the qat environment (``pytest -m qat``, .ci/run's QAT step).

The Keras 3 side (``prepare``, ``finish``) runs in the main environment's interpreter as a subprocess
(``$LRFR_MAIN_PYTHON``, default: the interpreter this venv was made from). Checks: the tf_keras twin
computes the Keras 3 model's embeddings (cosine >= 0.99999 on real LFW faces) and the check bites on a
corrupted weight; a few QAT steps run and lower nothing to NaN; the converted .tflite is integer
throughout (PRELU included), runs under LiteRT, and its embeddings of real faces agree with the Keras 3
source; ``finish`` embeds the export's metadata document.
"""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.qat

REPO = pathlib.Path(__file__).resolve().parents[2]
SAMPLE_CELEBA = REPO / "lrfr_tf" / "data" / "sample" / "celeba"


def _main_python() -> str:
    return os.environ.get("LRFR_MAIN_PYTHON") or getattr(sys, "_base_executable", None) or "python3"


def _main_env(*args, timeout=900):
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME", "TF_USE_LEGACY_KERAS")}
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run([_main_python(), "-m", "lrfr_tf.qat", *args], capture_output=True, text=True,
                         timeout=timeout, env=env, cwd=REPO)
    assert out.returncode == 0, f"main-environment step {args[0]} failed:\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def tfmot():
    try:
        import tf_keras  # noqa: F401
        import tensorflow_model_optimization as tfmot
    except ImportError as e:
        if os.environ.get("CI"):
            pytest.fail(f"the qat tests need the qat environment (pip install -e '.[qat]' in its venv): {e}")
        pytest.skip(f"QAT TESTS SKIPPED: not the qat environment ({e}); see README 'Tests and CI'")
    return tfmot


@pytest.fixture(scope="module")
def prepared(tfmot, tmp_path_factory, lfw_dir, mobilefacenet_tflite):
    out = tmp_path_factory.mktemp("qat")
    _main_env("prepare", f"--model={mobilefacenet_tflite}", f"--out={out}", f"--train_data={SAMPLE_CELEBA}",
              "--train_faces=48", "--copies=1", f"--check_data={lfw_dir}", "--calibration_size=48")
    return out


def test_twin_computes_the_keras3_embeddings(prepared):
    from lrfr_tf.qat import twin, twin_spec

    model, arch, parity = twin.build_twin(str(prepared / "twin.npz"))
    _, _, inputs, expected = twin_spec.read(str(prepared / "twin.npz"))
    assert inputs.shape == (64, 112, 112, 3) and arch["equalized_pairs"] > 0
    cos = twin.cosine(model.predict(inputs, verbose=0), expected)
    assert cos.min() >= 0.99999, cos.min()
    assert parity["min_cosine"] == pytest.approx(cos.min())


def test_twin_check_catches_a_wrong_weight(prepared, tmp_path):
    from lrfr_tf.qat import twin, twin_spec

    arch, weights, inputs, expected = twin_spec.read(str(prepared / "twin.npz"))
    weights["w/block3_depthwise/kernel"] = weights["w/block3_depthwise/kernel"][:, ::-1].copy()  # mirrored kernel
    broken = str(tmp_path / "broken.npz")
    twin_spec.write(broken, {k: v for k, v in arch.items() if k not in ("format", "version")}, weights, inputs,
                    expected)
    with pytest.raises(twin.TwinMismatch, match="cosine"):
        twin.build_twin(broken)


@pytest.fixture(scope="module")
def trained(prepared):
    from lrfr_tf.qat import train

    report = train.run(str(prepared / "twin.npz"), str(prepared / "distill.npz"), str(prepared), steps=4,
                       batch_size=8, learning_rate=2e-5, calibration_faces=32, holdout=16, checkpoint_every=2,
                       progress=False)
    return report


def test_qat_steps_and_int8_conversion(prepared, trained):
    from ai_edge_litert.interpreter import Interpreter

    from lrfr_tf.qat import twin, twin_spec

    history = trained["history"]
    assert history["steps"] == 4 and np.isfinite(history["loss_last20"]) and 0 < history["loss_last20"] < 0.2
    assert sorted(os.listdir(prepared / "checkpoints"))  # checkpoints written
    data = (prepared / "qat_int8.tflite").read_bytes()
    assert twin.float_tensors(data) == []  # integer throughout
    interp = Interpreter(model_content=data)
    ops = {d["op_name"] for d in interp._get_ops_details()}
    # tfmot has no PReLU support: with PReLUQuantizeConfig the 33 PReLUs convert to int8 PRELU ops
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "PRELU", "ADD"} <= ops and "DEQUANTIZE" not in ops
    assert np.dtype(interp.get_input_details()[0]["dtype"]) == np.int8
    _, _, inputs, expected = twin_spec.read(str(prepared / "twin.npz"))
    cos = twin.cosine(twin.run_tflite(data, inputs), expected)  # real LFW faces at 112 px vs the Keras 3 model
    assert cos.mean() >= 0.93 and cos.min() >= 0.8, (cos.mean(), cos.min())


def test_finish_writes_the_export_metadata(prepared, trained, mobilefacenet_tflite):
    from lrfr_tf import model_metadata

    _main_env("finish", f"--model={mobilefacenet_tflite}", f"--out={prepared}", "--no_gate", "--name=mfn")
    meta = model_metadata.read_tflite_file(str(prepared / "mfn_qat_int8.tflite"))
    assert meta["format"] == "tflite_int8" and meta["gate"] == "disabled (--no_gate)"
    assert meta["input"]["dtype"] == "int8" and meta["input"]["contract"] == "normalized"
    assert meta["embedding_dim"] == 192 and "quantisation-aware" in meta["quantization"]["method"]
    assert (prepared / "mfn_qat_int8.json").is_file() and (prepared / "mfn_qat_int8.preprocessing.json").is_file()
