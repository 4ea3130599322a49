"""Predictions, status and metadata over real HTTP on 127.0.0.1, compared with the SavedModel itself."""

import numpy as np
import pytest
from serve_helpers import MODEL_NAME, images, predict, reference, request, start_server


def version_path(base, version):
    return f"{base}/{version}"


@pytest.mark.parametrize("signature", ["serving_default", "embed"])
def test_row_and_columnar_embeddings_equal_the_savedmodel(server, model_base_path, signature):
    batch = images(3, 6, 9, seed=1)
    expected = reference(version_path(model_base_path, 2), signature, images=batch)["embedding"]
    body = {"instances": batch.tolist()}
    if signature != "serving_default":
        body["signature_name"] = signature
    status, row, _ = predict(server.port, body)
    assert status == 200 and list(row) == ["predictions"]
    np.testing.assert_array_equal(np.array(row["predictions"], dtype=np.float32), expected)
    np.testing.assert_allclose(np.linalg.norm(expected, axis=1), 1.0, rtol=1e-5)  # the model normalises

    columnar = {"signature_name": signature, "inputs": batch.tolist()}
    status, col, _ = predict(server.port, columnar)
    assert status == 200 and list(col) == ["outputs"]
    np.testing.assert_array_equal(np.array(col["outputs"], dtype=np.float32), expected)
    status, named, _ = predict(server.port, {"signature_name": signature, "inputs": {"images": batch.tolist()}})
    assert status == 200 and named == col


def test_verify_takes_named_inputs_in_both_formats(server, model_base_path):
    a, b = images(2, seed=2), images(2, 9, 4, seed=3)
    expected = reference(version_path(model_base_path, 2), "verify", images_a=a, images_b=b)["similarity"]
    assert expected.shape == (2,)
    # row format with two inputs of different sizes: each instance is an object
    instances = [{"images_a": a[i].tolist(), "images_b": b[i].tolist()} for i in range(2)]
    status, row, _ = predict(server.port, {"signature_name": "verify", "instances": instances})
    assert status == 200
    assert all(isinstance(p, float) for p in row["predictions"])  # one output: a bare value per instance
    np.testing.assert_array_equal(np.array(row["predictions"], dtype=np.float32), expected)
    status, col, _ = predict(server.port, {"signature_name": "verify", "inputs": {"images_a": a.tolist(), "images_b": b.tolist()}})
    assert status == 200
    np.testing.assert_array_equal(np.array(col["outputs"], dtype=np.float32), expected)


def test_several_outputs_are_keyed_by_name(server, model_base_path):
    batch = images(2, seed=4)
    expected = reference(version_path(model_base_path, 2), "describe", images=batch)
    status, row, _ = predict(server.port, {"signature_name": "describe", "instances": batch.tolist()})
    assert status == 200 and len(row["predictions"]) == 2
    for i, prediction in enumerate(row["predictions"]):
        assert set(prediction) == {"embedding", "norm"}
        np.testing.assert_array_equal(np.float32(prediction["embedding"]), expected["embedding"][i])
        assert np.float32(prediction["norm"]) == expected["norm"][i]
    status, col, _ = predict(server.port, {"signature_name": "describe", "inputs": batch.tolist()})
    assert status == 200 and set(col["outputs"]) == {"embedding", "norm"}
    np.testing.assert_array_equal(np.float32(col["outputs"]["norm"]), expected["norm"])


def test_version_pinning(server, model_base_path):
    batch = images(1, seed=5)
    newest = reference(version_path(model_base_path, 2), "embed", images=batch)["embedding"]
    status, pinned, _ = predict(server.port, {"instances": batch.tolist()}, version=2)
    assert status == 200
    np.testing.assert_array_equal(np.float32(pinned["predictions"]), newest)
    # only the newest version is loaded by default, as in TF Serving
    status, body, _ = predict(server.port, {"instances": batch.tolist()}, version=1)
    assert status == 404 and body == {"error": f"Servable not found for request: Specific({MODEL_NAME}, 1)"}


def test_num_versions_serves_older_versions_too(model_base_path):
    from lrfr_tf.serve import ModelVersions

    versions = ModelVersions(model_base_path, poll_seconds=0, num_versions=2)
    versions.start()
    thread = start_server(versions)
    try:
        batch = images(2, seed=6)
        outputs = {}
        for version in (1, 2):
            status, body, _ = predict(thread.server.port, {"instances": batch.tolist()}, version=version)
            assert status == 200
            outputs[version] = np.float32(body["predictions"])
            expected = reference(version_path(model_base_path, version), "serving_default", images=batch)["embedding"]
            np.testing.assert_array_equal(outputs[version], expected)
        assert not np.allclose(outputs[1], outputs[2])  # the versions really differ
        status, latest, _ = predict(thread.server.port, {"instances": batch.tolist()})
        np.testing.assert_array_equal(np.float32(latest["predictions"]), outputs[2])
        status, body, _ = request(thread.server.port, "GET", f"/v1/models/{MODEL_NAME}")
        assert [(s["version"], s["state"]) for s in body["model_version_status"]] == [("2", "AVAILABLE"), ("1", "AVAILABLE")]
    finally:
        thread.stop()
        versions.stop()


def test_status_has_tf_servings_layout(server):
    available = {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    status, body, _ = request(server.port, "GET", f"/v1/models/{MODEL_NAME}")
    assert status == 200 and body == {"model_version_status": [available]}
    status, body, _ = request(server.port, "GET", f"/v1/models/{MODEL_NAME}/versions/2")
    assert status == 200 and body == {"model_version_status": [available]}
    status, body, _ = request(server.port, "GET", f"/v1/models/{MODEL_NAME}/versions/5")
    assert status == 404 and body == {"error": f"Could not find version 5 of model {MODEL_NAME}"}


def test_metadata_has_tf_servings_layout(server):
    status, body, _ = request(server.port, "GET", f"/v1/models/{MODEL_NAME}/metadata")
    assert status == 200 and set(body) == {"model_spec", "metadata"}
    assert body["model_spec"] == {"name": MODEL_NAME, "signature_name": "", "version": "2"}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "embed", "verify", "describe"} <= set(signatures)

    def dims(tensor_info):
        assert tensor_info["tensor_shape"]["unknown_rank"] is False
        return [d["size"] for d in tensor_info["tensor_shape"]["dim"]]

    for name in ("serving_default", "embed"):
        sig = signatures[name]
        assert sig["method_name"] == "tensorflow/serving/predict"
        assert set(sig["inputs"]) == {"images"} and set(sig["outputs"]) == {"embedding"}
        assert sig["inputs"]["images"]["dtype"] == "DT_UINT8"
        assert dims(sig["inputs"]["images"]) == ["-1", "-1", "-1", "3"]
        assert sig["outputs"]["embedding"]["dtype"] == "DT_FLOAT"
        assert dims(sig["outputs"]["embedding"]) == ["-1", "8"]
        assert isinstance(sig["inputs"]["images"]["name"], str)
    verify = signatures["verify"]
    assert set(verify["inputs"]) == {"images_a", "images_b"}
    assert dims(verify["outputs"]["similarity"]) == ["-1"]
    status, pinned, _ = request(server.port, "GET", f"/v1/models/{MODEL_NAME}/versions/2/metadata")
    assert status == 200 and pinned == body
