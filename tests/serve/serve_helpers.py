"""Test SavedModels for the server (written with keras ExportArchive, as lrfr_tf/export writes them) and a
plain HTTP client."""

from __future__ import annotations

import functools
import http.client
import json
import os
import shutil
from typing import Optional, Tuple

import numpy as np

EMBEDDING_SIZE = 8
MODEL_NAME = "faces"
SMALL_BODY_LIMIT = 256 * 1024  # the shared test server's --max_request_bytes


def write_version(path: str, seed: int) -> None:
    """A SavedModel in ``path``: a Dense embedder on 16x16 resized images whose weights depend on ``seed``.

    Signatures: ``serving_default`` and ``embed`` (images uint8 [N,H,W,3] -> embedding float32 [N,8],
    L2-normalised), ``verify`` (images_a, images_b -> similarity float32 [N]) and ``describe`` (images ->
    embedding and norm, two outputs).
    """
    import keras
    import tensorflow as tf

    dense = keras.layers.Dense(EMBEDDING_SIZE, kernel_initializer=keras.initializers.RandomNormal(seed=seed),
                               bias_initializer=keras.initializers.RandomNormal(seed=seed + 100))
    model = keras.Sequential([keras.Input((16 * 16 * 3,)), dense])

    def features(images):
        resized = tf.image.resize(tf.cast(images, tf.float32) / 255.0, (16, 16))
        return model(tf.reshape(resized, (-1, 16 * 16 * 3)))

    def embed(images):
        return {"embedding": tf.math.l2_normalize(features(images), axis=-1)}

    def verify(images_a, images_b):
        a, b = embed(images_a)["embedding"], embed(images_b)["embedding"]
        return {"similarity": tf.reduce_sum(a * b, axis=-1)}

    def describe(images):
        raw = features(images)
        return {"embedding": tf.math.l2_normalize(raw, axis=-1), "norm": tf.norm(raw, axis=-1)}

    def images_spec(name):
        return tf.TensorSpec([None, None, None, 3], tf.uint8, name=name)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", embed, input_signature=[images_spec("images")])
    archive.add_endpoint("embed", embed, input_signature=[images_spec("images")])
    archive.add_endpoint("verify", verify, input_signature=[images_spec("images_a"), images_spec("images_b")])
    archive.add_endpoint("describe", describe, input_signature=[images_spec("images")])
    archive.write_out(path, verbose=False)


def copy_version(source: str, destination: str) -> None:
    """Copy a version folder the way an exporter should publish one: into a temporary name, then rename."""
    staging = os.path.join(os.path.dirname(destination), "tmp-" + os.path.basename(destination))
    shutil.copytree(source, staging)
    os.rename(staging, destination)


def start_server(versions, **settings):
    """A running ServerThread over ``versions`` on a free 127.0.0.1 port (stop it when done)."""
    from lrfr_tf.serve import ModelServer, ServeConfig, ServerThread

    config = ServeConfig(model_base_path=versions.base_path, rest_api_port=0, **settings)
    return ServerThread(ModelServer(config, versions)).start()


@functools.lru_cache(maxsize=None)
def _loaded(path: str):
    import tensorflow as tf

    return tf.saved_model.load(path)


def reference(path: str, signature: str, **inputs) -> dict:
    """The SavedModel's own outputs (NumPy) for ``inputs``."""
    import tensorflow as tf

    outputs = _loaded(path).signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in outputs.items()}


def images(count: int, height: int = 5, width: int = 7, seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, (count, height, width, 3)).astype(np.uint8)


def request(port: int, method: str, path: str, body=None, headers: Optional[dict] = None) -> Tuple[int, object, str]:
    """One HTTP request to 127.0.0.1:``port``; ``body`` is sent as JSON unless it is bytes.
    Returns (status, parsed JSON body or None, raw text)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        connection.request(method, path, body=data, headers=headers or {})
        response = connection.getresponse()
        text = response.read().decode("utf-8")
    finally:
        connection.close()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    return response.status, parsed, text


def predict(port: int, body, model: str = MODEL_NAME, version: Optional[int] = None):
    path = f"/v1/models/{model}" + (f"/versions/{version}" if version is not None else "") + ":predict"
    return request(port, "POST", path, body)
