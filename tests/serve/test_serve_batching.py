"""Concurrent clients are merged into model calls and get their own rows back; a full queue answers 503."""

import asyncio
import json
import threading
import time

import aiohttp
import numpy as np
from serve_helpers import MODEL_NAME, images, predict, reference, request, start_server

PREDICT = f"/v1/models/{MODEL_NAME}:predict"


async def _post_all(url, bodies):
    async with aiohttp.ClientSession() as session:
        async def post(body):
            async with session.post(url, data=json.dumps(body)) as response:
                return response.status, await response.json()

        return await asyncio.gather(*(post(b) for b in bodies))


def test_concurrent_requests_are_batched_and_split_back(served_versions, model_base_path):
    thread = start_server(served_versions, batch_timeout_micros=1_000_000)
    try:
        batcher = thread.server.batcher
        requests = [images(1 + i % 3, 6, 6, seed=100 + i) for i in range(8)]  # 1-3 instances each
        bodies = [{"instances": r.tolist()} if i % 2 else {"signature_name": "embed", "inputs": r.tolist()}
                  for i, r in enumerate(requests)]
        calls_before = batcher.batches_run
        answers = asyncio.run(_post_all(thread.url + PREDICT, bodies))
        model_calls = batcher.batches_run - calls_before
        # serving_default and embed are separate queues: at least 2 calls, far fewer than 8 requests
        assert 2 <= model_calls < len(requests), model_calls
        for i, ((status, body), batch) in enumerate(zip(answers, requests)):
            assert status == 200, body
            rows = np.float32(body["predictions"] if i % 2 else body["outputs"])
            expected = reference(f"{model_base_path}/2", "embed", images=batch)["embedding"]
            assert rows.shape == expected.shape
            np.testing.assert_allclose(rows, expected, rtol=1e-5, atol=1e-6)  # batched matmul may round differently
    finally:
        thread.stop()


def test_full_queue_answers_unavailable_and_waiting_requests_still_run(served_versions, model_base_path):
    # one batch of at most 2 instances may wait; it runs after a second (or when full)
    thread = start_server(served_versions, max_batch_size=2, max_enqueued_batches=1, batch_timeout_micros=1_000_000)
    try:
        batcher = thread.server.batcher
        first = images(1, 4, 4, seed=200)
        answers = {}
        waiting = threading.Thread(target=lambda: answers.update(first=predict(thread.server.port, {"instances": first.tolist()})))
        waiting.start()
        deadline = time.time() + 20
        while batcher.queued_tasks < 1 and time.time() < deadline:
            time.sleep(0.01)
        assert batcher.queued_tasks == 1
        calls_before = batcher.batches_run
        # two more instances do not fit in the open batch and no second batch may be enqueued
        status, body, _ = predict(thread.server.port, {"instances": images(2, 4, 4, seed=201).tolist()})
        assert status == 503
        assert body == {"error": "The batch scheduling queue to which this task was submitted is full; currently 1 "
                                 "batches enqueued and max_enqueued_batches is 1"}
        # one more instance fills the open batch, which then runs at once with the first request
        second = images(1, 4, 4, seed=202)
        status, body, _ = predict(thread.server.port, {"instances": second.tolist()})
        waiting.join(30)
        assert status == 200 and answers["first"][0] == 200
        assert batcher.batches_run - calls_before == 1  # one model call for both
        for batch, rows in ((first, answers["first"][1]["predictions"]), (second, body["predictions"])):
            expected = reference(f"{model_base_path}/2", "serving_default", images=batch)["embedding"]
            np.testing.assert_allclose(np.float32(rows), expected, rtol=1e-5, atol=1e-6)
    finally:
        thread.stop()


def test_event_loop_answers_while_the_model_runs(model_base_path):
    """The model runs on a worker thread: status requests are answered while a slow model call is under way."""
    from lrfr_tf.serve import ModelVersions
    from lrfr_tf.serve.model_versions import load_saved_model

    model_seconds = 2.0

    def load_slow(name, version, path):
        servable = load_saved_model(name, version, path)
        run = servable.run

        def slow_run(signature_name, inputs):
            time.sleep(model_seconds)
            return run(signature_name, inputs)

        servable.run = slow_run
        return servable

    versions = ModelVersions(model_base_path, poll_seconds=0, loader=load_slow)
    versions.start()
    thread = start_server(versions, batch_timeout_micros=0)
    try:
        answers = {}
        batch = images(1, seed=300)
        client = threading.Thread(target=lambda: answers.update(slow=predict(thread.server.port, {"instances": batch.tolist()})))
        started = time.time()
        client.start()
        while thread.server.batcher.queued_tasks == 0 and time.time() - started < model_seconds / 2:
            time.sleep(0.005)  # until the request has reached the batcher
        while thread.server.batcher.queued_tasks and time.time() - started < model_seconds / 2:
            time.sleep(0.005)  # and its batch has left the queue for the model
        status, body, _ = request(thread.server.port, "GET", f"/v1/models/{MODEL_NAME}")
        answered_after = time.time() - started
        assert status == 200 and body["model_version_status"][0]["state"] == "AVAILABLE"
        assert client.is_alive() and answered_after < model_seconds, answered_after
        client.join(30)
        assert answers["slow"][0] == 200
        expected = reference(f"{model_base_path}/2", "serving_default", images=batch)["embedding"]
        np.testing.assert_array_equal(np.float32(answers["slow"][1]["predictions"]), expected)
    finally:
        thread.stop()
        versions.stop()
