"""JSON <-> tensors without a server: TF Serving's formats, messages and float spelling."""

import json

import numpy as np
import pytest

from lrfr_tf.serve.serving_errors import ServingError
from lrfr_tf.serve.signature_info import TensorInfo
from lrfr_tf.serve.tensors_json import (
    COLUMNAR, ROW, format_floats, parse_document, predict_response, request_tensors, tensor_from_json,
)

IMAGES = {"images": TensorInfo("images", "DT_UINT8", (-1, -1, -1, 3))}
PAIR = {
    "images_a": TensorInfo("images_a", "DT_UINT8", (-1, -1, -1, 3)),
    "images_b": TensorInfo("images_b", "DT_UINT8", (-1, -1, -1, 3)),
}


def error_of(call, *args) -> ServingError:
    with pytest.raises(ServingError) as caught:
        call(*args)
    return caught.value


def test_floats_are_written_as_tf_serving_writes_them():
    values = np.array([0.2, 1.0, 9e6, 3e-5, 1 / 3, -2.5, np.nan, np.inf, -np.inf], dtype=np.float32)
    texts = format_floats(values)
    # six digits when they read back as the same float32, else nine; '.0' on whole numbers
    assert texts == ["0.2", "1.0", "9e+06", "3e-05", "0.333333343", "-2.5", "NaN", "Infinity", "-Infinity"]
    parsed = np.array(json.loads("[" + ",".join(texts) + "]"), dtype=np.float32)  # Python reads NaN, Infinity
    np.testing.assert_array_equal(parsed, values)  # every value reads back exactly


def test_float64_uses_seventeen_digits_when_needed():
    assert format_floats(np.array([0.1, 1 / 3], dtype=np.float64)) == ["0.1", "0.33333333333333331"]


def test_fast_path_and_reference_path_build_the_same_tensors():
    rng = np.random.RandomState(0)
    cases = [
        (rng.randint(0, 256, (2, 3, 4, 3)).tolist(), TensorInfo("x", "DT_UINT8", None)),
        (rng.randn(3, 5).tolist(), TensorInfo("x", "DT_FLOAT", None)),
        ([[1, 2.5], [3, -4]], TensorInfo("x", "DT_DOUBLE", None)),  # ints are numbers for floats
        ([[True, False]], TensorInfo("x", "DT_BOOL", None)),
        ([2**63 - 1, -(2**63)], TensorInfo("x", "DT_INT64", None)),
        ([[], []], TensorInfo("x", "DT_INT32", None)),
        (7, TensorInfo("x", "DT_INT32", None)),
    ]
    for value, info in cases:
        fast = tensor_from_json(value, info)
        walked = tensor_from_json(value, info, fast=False)
        assert fast.dtype == walked.dtype and fast.shape == walked.shape, (value, info)
        np.testing.assert_array_equal(fast, walked)


@pytest.mark.parametrize("value, dtype, message", [
    ([1.5, 2], "DT_UINT8", "JSON Value: 1.5 Type: Number is not of expected type: uint8"),
    ([1, True], "DT_INT32", "JSON Value: true Type: True is not of expected type: int32"),  # NumPy would take it
    ([1.0, False], "DT_FLOAT", "JSON Value: false Type: False is not of expected type: float"),
    ([255, 256], "DT_UINT8", "JSON Value: 256 Type: Number is not of expected type: uint8"),
    ([-1], "DT_UINT8", "JSON Value: -1 Type: Number is not of expected type: uint8"),
    (["a"], "DT_FLOAT", 'JSON Value: "a" Type: String is not of expected type: float'),
    ([[1, 2], [3]], "DT_INT32", "Encountered list at unexpected size: 1 at level: 1 expected size: 2"),
    ([[1, 2], 3], "DT_INT32", "JSON Value: 3 found at incorrect level: 2 in the JSON DOM. Expected at level: 2"),
    ([1, [2]], "DT_INT32", "Encountered list at unexpected level: 1 expected < 1"),
    ([1], "DT_HALF", "Conversion of JSON Value: 1 to type: half"),
])
def test_bad_values_get_tf_serving_messages(value, dtype, message):
    error = error_of(tensor_from_json, value, TensorInfo("x", dtype, None))
    assert error.message == message
    assert error.http_status == (501 if dtype == "DT_HALF" else 400)


def test_strings_and_base64():
    info = TensorInfo("x", "DT_STRING", None)
    array = tensor_from_json(["ab", {"b64": "AAE="}, {"b64": "AAE"}], info)
    assert array.tolist() == [b"ab", b"\x00\x01", b"\x00\x01"]
    assert error_of(tensor_from_json, [{"b64": "**"}], info).message == "Unable to base64 decode"


def test_row_format_stacks_instances_and_checks_them():
    fmt, tensors = request_tensors({"instances": [{"images_a": [[[1, 2, 3]]], "images_b": [[[4, 5, 6]]]}] * 2}, PAIR, "verify")
    assert fmt == ROW and tensors["images_a"].shape == (2, 1, 1, 3) and tensors["images_b"][1].tolist() == [[[4, 5, 6]]]
    ragged = {"instances": [[[[1, 2, 3]]], [[[1, 2, 3], [4, 5, 6]]]]}
    assert error_of(request_tensors, ragged, IMAGES, "").message == (
        "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: Expecting tensor size: 3 but got: 6")
    extra = {"instances": [{"images_a": [1], "images_b": [1], "other": [1]}]}
    assert error_of(request_tensors, extra, PAIR, "verify").message == (
        "Failed to process element: 0 key: other of 'instances' list. Error: INVALID_ARGUMENT: "
        "JSON object: does not have named input: other")
    missing = {"instances": [{"images_a": [1]}]}
    assert error_of(request_tensors, missing, PAIR, "verify").message == (
        "Failed to process element: 0 of 'instances' list. JSON object: {\"images_a\":[1]} keys must be equal to: "
        "images_a,images_b")


def test_columnar_format():
    fmt, tensors = request_tensors({"inputs": [[[[1, 2, 3]]]]}, IMAGES, "")
    assert fmt == COLUMNAR and tensors["images"].dtype == np.uint8 and tensors["images"].shape == (1, 1, 1, 3)
    assert error_of(request_tensors, {"inputs": {"images_a": [1]}}, PAIR, "verify").message == (
        "Missing named input: images_b in 'inputs' object.")
    assert error_of(request_tensors, {"inputs": [1]}, PAIR, "verify").message.startswith(
        "inputs is a plain value/list, but expecting an object")


@pytest.mark.parametrize("body, message", [
    (b"", "JSON Parse error: The document is empty"),
    (b"{\"instances\": [1,", "JSON Parse error: Expecting value at offset: 17"),
    (b"\xff{}", "JSON Parse error: Invalid encoding in string. at offset: 0"),
    (b"[1, 2]", "JSON Value: [1,2] Is not object"),
    (b"[" * 100000, "JSON Parse error: the document is nested too deeply"),
])
def test_bad_documents(body, message):
    assert error_of(parse_document, body).message == message


def test_trailing_text_after_the_document_is_ignored_as_rapidjson_does():
    assert parse_document(b' {"instances": [1]} trailing') == {"instances": [1]}


def test_responses_row_and_columnar():
    one = {"embedding": np.array([[0.5, 1.0], [0.25, 2.0]], dtype=np.float32)}
    assert json.loads(predict_response(one, ROW)) == {"predictions": [[0.5, 1.0], [0.25, 2.0]]}
    assert json.loads(predict_response(one, COLUMNAR)) == {"outputs": [[0.5, 1.0], [0.25, 2.0]]}
    two = {**one, "norm": np.array([3.0, 4.0], dtype=np.float32), "id_bytes": np.array([b"\x00", b"a"], dtype=object)}
    assert json.loads(predict_response(two, ROW)) == {"predictions": [
        {"embedding": [0.5, 1.0], "norm": 3.0, "id_bytes": {"b64": "AA=="}},
        {"embedding": [0.25, 2.0], "norm": 4.0, "id_bytes": {"b64": "YQ=="}},
    ]}
    assert json.loads(predict_response(two, COLUMNAR)) == {"outputs": {
        "embedding": [[0.5, 1.0], [0.25, 2.0]], "norm": [3.0, 4.0], "id_bytes": [{"b64": "AA=="}, {"b64": "YQ=="}]}}
    uneven = {"a": np.zeros((2, 1)), "b": np.zeros(3)}
    assert error_of(predict_response, uneven, ROW).message == "Tensor name: b has inconsistent batch size: 3 expecting: 2"
