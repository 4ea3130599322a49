"""New versions are picked up without a restart; half-written, hidden and broken folders never disturb serving."""

import logging
import os
import time

import numpy as np
from serve_helpers import MODEL_NAME, copy_version, images, predict, reference, request, start_server

POLL_SECONDS = 0.1


def wait_for(condition, timeout=30.0):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def statuses(port):
    status, body, _ = request(port, "GET", f"/v1/models/{MODEL_NAME}")
    assert status == 200
    return {s["version"]: (s["state"], s["status"]["error_code"]) for s in body["model_version_status"]}


def test_new_versions_are_picked_up_without_restart(tmp_path, exported_versions, caplog):
    from lrfr_tf.serve import ModelVersions

    base = tmp_path / MODEL_NAME
    base.mkdir()
    copy_version(exported_versions[1], str(base / "1"))
    versions = ModelVersions(str(base), poll_seconds=POLL_SECONDS)
    versions.start()
    thread = start_server(versions)
    port = thread.server.port
    batch = images(2, seed=7)
    expected = {v: reference(exported_versions[v], "serving_default", images=batch)["embedding"] for v in (1, 2)}

    def served_rows():
        status, body, _ = predict(port, {"instances": batch.tolist()})
        assert status == 200
        return np.float32(body["predictions"])

    try:
        np.testing.assert_array_equal(served_rows(), expected[1])
        # not versions: a folder still being written (no saved_model.pb yet), hidden and temporary names
        (base / "5" / "variables").mkdir(parents=True)
        copy_version(exported_versions[2], str(base / ".6"))
        copy_version(exported_versions[2], str(base / "tmp7"))
        time.sleep(10 * POLL_SECONDS)
        assert versions.served_versions == [1]
        assert statuses(port) == {"1": ("AVAILABLE", "OK")}

        copy_version(exported_versions[2], str(base / "2"))
        wait_for(lambda: versions.served_versions == [2])
        np.testing.assert_array_equal(served_rows(), expected[2])
        assert statuses(port) == {"2": ("AVAILABLE", "OK"), "1": ("END", "OK")}  # the old one unloaded
        assert predict(port, {"instances": batch.tolist()}, version=1)[0] == 404

        # a version that cannot load is reported and skipped; version 2 stays served
        broken = base / "3"
        broken.mkdir()
        (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
        with caplog.at_level(logging.WARNING, logger="lrfr_tf.serve"):
            wait_for(lambda: statuses(port).get("3", ("",))[0] == "END")
            time.sleep(5 * POLL_SECONDS)
        state, code = statuses(port)["3"]
        assert code not in ("OK", "") and versions.served_versions == [2]
        np.testing.assert_array_equal(served_rows(), expected[2])
        assert any("version 3" in r.getMessage() and "failed to load" in r.getMessage() for r in caplog.records)
        assert sum("version 3" in r.getMessage() for r in caplog.records) == 1  # not retried while unchanged

        # the broken folder fixed in place: retried because its files changed
        (broken / "saved_model.pb").unlink()
        os.rmdir(broken)
        copy_version(exported_versions[1], str(broken))
        wait_for(lambda: versions.served_versions == [3])
        np.testing.assert_array_equal(served_rows(), expected[1])
    finally:
        thread.stop()
        versions.stop()


def test_empty_base_path_serves_404_until_a_version_appears(tmp_path, exported_versions):
    from lrfr_tf.serve import ModelVersions

    base = tmp_path / MODEL_NAME
    base.mkdir()
    versions = ModelVersions(str(base), poll_seconds=POLL_SECONDS)
    versions.start()
    thread = start_server(versions)
    try:
        status, body, _ = predict(thread.server.port, {"instances": images(1).tolist()})
        assert status == 404 and body == {"error": f"Servable not found for request: Latest({MODEL_NAME})"}
        status, body, _ = request(thread.server.port, "GET", f"/v1/models/{MODEL_NAME}")
        assert status == 404 and body == {"error": f"Could not find any versions of model {MODEL_NAME}"}
        copy_version(exported_versions[2], str(base / "4"))
        wait_for(lambda: versions.served_versions == [4])
        assert predict(thread.server.port, {"instances": images(1).tolist()})[0] == 200
    finally:
        thread.stop()
        versions.stop()
