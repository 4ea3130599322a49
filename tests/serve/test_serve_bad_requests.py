"""Every bad request gets TF Serving's status and ``{"error": ...}`` body, never a 500, and the server goes on."""

import http.client
import json

import numpy as np
import pytest
from serve_helpers import MODEL_NAME, SMALL_BODY_LIMIT, images, predict, reference, request

M = f"/v1/models/{MODEL_NAME}"
IMAGE = images(1, 2, 2).tolist()
PAIR = {"images_a": IMAGE[0], "images_b": IMAGE[0]}


def body(document) -> bytes:
    return json.dumps(document).encode()


CASES = [
    # (id, method, path, body, status, message start)
    ("float for uint8", "POST", M + ":predict", body({"instances": [[[[1.5, 2, 3]]]]}), 400,
     "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: JSON Value: 1.5 Type: Number "
     "is not of expected type: uint8"),
    ("out of uint8 range", "POST", M + ":predict", body({"inputs": [[[[1, 2, 300]]]]}), 400,
     "JSON Value: 300 Type: Number is not of expected type: uint8"),
    ("string for uint8", "POST", M + ":predict", body({"inputs": "abc"}), 400,
     'JSON Value: "abc" Type: String is not of expected type: uint8'),
    ("wrong rank", "POST", M + ":predict", body({"instances": [[1, 2, 3]]}), 400,
     "Input 'images' of signature 'serving_default' must have shape [-1,-1,-1,3] (-1: any size) but got shape [1,3]"),
    ("four channels", "POST", M + ":predict", body({"inputs": [[[[1, 2, 3, 4]]]]}), 400,
     "Input 'images' of signature 'serving_default' must have shape [-1,-1,-1,3] (-1: any size) but got shape [1,1,1,4]"),
    ("ragged instances", "POST", M + ":predict", body({"instances": [IMAGE[0], images(1, 3, 3).tolist()[0]]}), 400,
     "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: Expecting tensor size: 12 but got: 27"),
    ("empty batch", "POST", M + ":predict", body({"instances": []}), 400,
     "JSON Value: {\"instances\":[]} No values in 'instances' array"),
    ("batch over the limit", "POST", M + ":predict", body({"inputs": images(33, 1, 1).tolist()}), 400,
     "Task size 33 is larger than maximum input batch size 32"),
    ("malformed JSON", "POST", M + ":predict", b'{"instances": [1, 2', 400, "JSON Parse error: "),
    ("empty body", "POST", M + ":predict", b"", 400, "JSON Parse error: The document is empty"),
    ("not UTF-8", "POST", M + ":predict", b'{"instances": "\xff"}', 400, "JSON Parse error: Invalid encoding"),
    ("nested too deeply", "POST", M + ":predict", b"[" * 200000, 400, "JSON Parse error: "),
    ("not an object", "POST", M + ":predict", b"[1, 2]", 400, "JSON Value: [1,2] Is not object"),
    ("instances and inputs", "POST", M + ":predict", body({"instances": IMAGE, "inputs": IMAGE}), 400,
     "JSON Value: "),
    ("neither key", "POST", M + ":predict", body({"signature_name": "embed"}), 400,
     "Missing 'inputs' or 'instances' key"),
    ("instances not a list", "POST", M + ":predict", body({"instances": 3}), 400,
     "JSON Value: {\"instances\":3} Expecting 'instances' to be an list/array"),
    ("signature_name not a string", "POST", M + ":predict", body({"signature_name": 1, "instances": IMAGE}), 400,
     "JSON Value: {\"signature_name\":1,"),
    ("unknown signature", "POST", M + ":predict", body({"signature_name": "nope", "instances": IMAGE}), 400,
     'Serving signature name: "nope" not found in signature def'),
    ("init op is no signature", "POST", M + ":predict",
     body({"signature_name": "__saved_model_init_op", "instances": IMAGE}), 400,
     "Failed to get input map for signature: __saved_model_init_op"),
    ("plain list for two inputs", "POST", M + ":predict", body({"signature_name": "verify", "instances": IMAGE}), 400,
     "instances is a plain list, but expecting list of objects as multiple input tensors required as per tensorinfo_map"),
    ("missing named input", "POST", M + ":predict",
     body({"signature_name": "verify", "inputs": {"images_a": IMAGE}}), 400,
     "Missing named input: images_b in 'inputs' object."),
    ("unknown named input", "POST", M + ":predict",
     body({"signature_name": "verify", "instances": [{**PAIR, "images_c": IMAGE[0]}]}), 400,
     "Failed to process element: 0 key: images_c of 'instances' list. Error: INVALID_ARGUMENT: "
     "JSON object: does not have named input: images_c"),
    ("unknown model", "POST", "/v1/models/nobody:predict", body({"instances": IMAGE}), 404,
     "Servable not found for request: Latest(nobody)"),
    ("unknown version", "POST", M + "/versions/7:predict", body({"instances": IMAGE}), 404,
     f"Servable not found for request: Specific({MODEL_NAME}, 7)"),
    ("version beyond int64", "POST", M + "/versions/99999999999999999999:predict", body({"instances": IMAGE}), 400,
     "Failed to convert version: 99999999999999999999 to numeric."),
    ("version label", "POST", M + "/labels/stable:predict", body({"instances": IMAGE}), 400,
     "Unrecognized servable version label: stable"),
    ("body over the size limit", "POST", M + ":predict", b" " * (SMALL_BODY_LIMIT + 1), 400,
     f"Request body of {SMALL_BODY_LIMIT + 1} bytes exceeds the server's limit of {SMALL_BODY_LIMIT} bytes"),
    ("classify", "POST", M + ":classify", body({"examples": []}), 400, "The classify API is not served here"),
    ("status of unknown model", "GET", "/v1/models/nobody", None, 404, "Could not find any versions of model nobody"),
    ("metadata of unknown model", "GET", "/v1/models/nobody/metadata", None, 404,
     "Servable not found for request: Latest(nobody)"),
    ("metadata of unknown version", "GET", M + "/versions/7/metadata", None, 404,
     f"Servable not found for request: Specific({MODEL_NAME}, 7)"),
    ("no model name", "GET", "/v1/models", None, 400, "Missing model name in request."),
    ("GET a predict path", "GET", M + ":predict", None, 400, f"Malformed request: GET {M}:predict"),
    ("POST a status path", "POST", M, body({}), 400, f"Malformed request: POST {M}"),
    ("PUT", "PUT", M, body({}), 400, f"Malformed request: PUT {M}"),
    ("unknown API path", "GET", "/v1/other", None, 400, "Malformed request: GET /v1/other"),
    ("not the API", "GET", "/index.html", None, 404, "Not found: /index.html"),
    ("CORS preflight without Origin", "OPTIONS", M + ":predict", None, 400,
     "Origin header is missing in CORS preflight"),
]


@pytest.mark.parametrize("method, path, data, status, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_request_gets_tf_serving_error(server, model_base_path, method, path, data, status, message):
    got_status, got, raw = request(server.port, method, path, data)
    assert got_status == status, raw
    assert isinstance(got, dict) and list(got) == ["error"] and isinstance(got["error"], str), raw
    assert got["error"].startswith(message), got["error"]
    # the server goes on serving
    good = images(1, seed=9)
    ok_status, ok, _ = predict(server.port, {"instances": good.tolist()})
    assert ok_status == 200
    expected = reference(f"{model_base_path}/2", "serving_default", images=good)["embedding"]
    np.testing.assert_array_equal(np.float32(ok["predictions"]), expected)


def test_cors_preflight_with_origin_is_answered(server):
    status, _, raw = request(server.port, "OPTIONS", M + ":predict", headers={"Origin": "http://localhost:3000"})
    assert status == 200 and raw == ""


def test_paths_are_case_insensitive_and_model_names_url_decoded(server):
    status, body, _ = request(server.port, "GET", f"/V1/MODELS/{MODEL_NAME}/Metadata")
    assert status == 200 and body["model_spec"]["name"] == MODEL_NAME
    encoded = "".join(f"%{ord(c):02X}" for c in MODEL_NAME)
    status, body, _ = request(server.port, "GET", f"/v1/models/{encoded}")
    assert status == 200 and body["model_version_status"][0]["version"] == "2"


def test_chunked_body_over_the_limit_gets_400(server):
    """Without a Content-Length the limit is enforced while reading."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        chunks = iter([b" " * (SMALL_BODY_LIMIT // 2)] * 3)
        connection.request("POST", M + ":predict", body=chunks, encode_chunked=True)
        response = connection.getresponse()
        status, got = response.status, json.loads(response.read())
    finally:
        connection.close()
    assert status == 400
    assert got == {"error": f"Request body exceeds the server's limit of {SMALL_BODY_LIMIT} bytes (--max_request_bytes)"}
    assert request(server.port, "GET", M)[0] == 200
