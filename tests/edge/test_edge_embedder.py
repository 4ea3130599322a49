"""The TFLite embedder: fixed-batch padding, L2 norm, the input contract from export metadata or a flag, and
quantised inputs."""

import numpy as np
import pytest

from lrfr_tf import model_metadata
from lrfr_tf.edge.embedder import TFLiteEmbedder
from lrfr_tf.litert import dequantize, quantize
from lrfr_tf.preprocessing import ARCFACE, SPHEREFACE_112X96


@pytest.fixture(scope="module")
def faces(lfw_dir):
    from lrfr_tf.edge.inputs import read_image

    names = ["Aaron_Guiel/Aaron_Guiel_0001.jpg", "Adriana_Lima/Adriana_Lima_0001.jpg", "Al_Pacino/Al_Pacino_0001.jpg"]
    return np.stack([read_image(str(lfw_dir / "aligned112" / n)) for n in names])


def test_fixed_batch_is_padded_and_embeddings_are_unit_vectors(mobilefacenet_tflite, faces):
    embedder = TFLiteEmbedder(str(mobilefacenet_tflite))
    assert (embedder.batch, embedder.dim, embedder.preprocessing_source) == (2, 192, "default")
    together = embedder.embed(faces)  # 3 faces: one full batch, one padded
    alone = np.concatenate([embedder.embed(faces[i:i + 1]) for i in range(3)])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert together[0] @ together[1] < 0.5  # different people
    assert embedder.embed(faces[:0]).shape == (0, 192)
    with pytest.raises(ValueError, match=r"expected \[N, 112, 112, 3\]"):
        embedder.embed(faces[:, :100])


def test_metadata_contract_is_used(mobilefacenet_tflite, faces, tmp_path):
    """A model whose metadata says BGR gets BGR: its embeddings of a face equal the plain model's of the
    channel-swapped face."""
    bgr = {**ARCFACE.get_config(), "channels": "BGR"}
    data = model_metadata.embed_in_tflite(mobilefacenet_tflite.read_bytes(),
                                          {"preprocessing": bgr, "input": {"contract": "normalized"}})
    path = tmp_path / "bgr.tflite"
    path.write_bytes(data)
    tagged = TFLiteEmbedder(str(path), preprocessing="sphereface_112x96")  # the metadata wins over the flag
    assert tagged.preprocessing_source == "metadata" and tagged.preprocessing.channels == "BGR"
    plain = TFLiteEmbedder(str(mobilefacenet_tflite))
    np.testing.assert_allclose(tagged.embed(faces), plain.embed(faces[..., ::-1]), atol=1e-5)
    assert tagged.sha256 != plain.sha256


def test_other_contracts_and_sizes_are_refused(mobilefacenet_tflite, tmp_path):
    path = tmp_path / "raw.tflite"
    path.write_bytes(model_metadata.embed_in_tflite(mobilefacenet_tflite.read_bytes(), {
        "preprocessing": ARCFACE.get_config(), "input": {"contract": "uint8_pixels_any_size"}}))
    with pytest.raises(ValueError, match="input contract 'uint8_pixels_any_size'"):
        TFLiteEmbedder(str(path))
    with pytest.raises(ValueError, match=r"input is 112x112 but its preprocessing \(flag\) says 112x96"):
        TFLiteEmbedder(str(mobilefacenet_tflite), preprocessing=SPHEREFACE_112X96)


def test_a_file_that_is_not_tflite_is_named(tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"PK\x03\x04 a zip, not a flatbuffer")
    with pytest.raises(ValueError, match=f"--model={path}: not a TFLite flatbuffer"):
        TFLiteEmbedder(str(path))
    with pytest.raises(FileNotFoundError, match="no such file"):
        TFLiteEmbedder(str(tmp_path / "absent.tflite"))


@pytest.mark.parametrize("dtype,scale,zero", [(np.int8, 0.0078125, 0), (np.uint8, 0.0078125, 128), (np.int8, 0.05, -3)])
def test_quantisation_round_trips_within_half_a_step(dtype, scale, zero):
    detail = {"dtype": dtype, "quantization": (scale, zero)}
    x = np.linspace(-0.99, 0.99, 101).astype(np.float32)
    q = quantize(x, detail)
    assert q.dtype == dtype
    np.testing.assert_allclose(dequantize(q, detail), x, atol=scale / 2 + 1e-7)
    info = np.iinfo(dtype)
    assert quantize(np.array([1e6, -1e6]), detail).tolist() == [info.max, info.min]  # saturates
    float_detail = {"dtype": np.float32, "quantization": (0.0, 0)}
    np.testing.assert_array_equal(quantize(x, float_detail), x)
