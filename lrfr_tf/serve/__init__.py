"""A local model server that speaks TF Serving's REST API (``python -m lrfr_tf.serve``).

Modules: ``versions`` (the model base path, polled for new versions), ``tensors_json`` (JSON <-> tensors as
TF Serving does it), ``predict`` (a request checked against its signature), ``batching`` (requests merged into
model calls, bounded queue), ``rest`` (the HTTP routes, on aiohttp), ``server`` (settings, listener, thread),
``errors`` (status codes and the error body). Importing this package does not import TensorFlow.
"""

from lrfr_tf.serve.server import ModelServer, ServeConfig, ServerThread
from lrfr_tf.serve.versions import ModelVersions

__all__ = ["ModelServer", "ModelVersions", "ServeConfig", "ServerThread"]
