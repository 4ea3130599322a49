"""A local model server that speaks TF Serving's REST API (``python -m lrfr_tf.serve``).

Modules: ``model_versions`` (the model base path, polled for new versions), ``tensors_json`` (JSON <-> tensors
as TF Serving does it), ``signature_info`` (a signature's inputs and outputs), ``predict_request`` (a request
checked against its signature), ``batching`` (requests merged into model calls, bounded queue), ``rest_api``
(the HTTP routes, on aiohttp), ``model_server`` (settings, listener, thread), ``serving_errors`` (status codes
and the error body). Importing this package does not import TensorFlow.
"""

from lrfr_tf.serve.model_server import ModelServer, ServeConfig, ServerThread
from lrfr_tf.serve.model_versions import ModelVersions

__all__ = ["ModelServer", "ModelVersions", "ServeConfig", "ServerThread"]
