"""Pretrained MobileFaceNet imported from TFLite: parity with the file, other files, clear errors."""

import os

import numpy as np
import pytest

from lrfr_tf.models import create_backbone
from lrfr_tf.models.mobilefacenet import PAPER_STAGES, MobileFaceNet, load_mobilefacenet_tflite
from lrfr_tf.models.tflite_import import TFLiteGraph, TFLiteImportError, mobilefacenet_config
from lrfr_tf.preprocessing import Preprocessing
from model_checks import (assert_all_weights_get_gradients, assert_keras_save_load, export_tflite, run_tflite)


def cosines(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def tflite_embeddings(path, x):
    """Run a fixed-batch .tflite file over x in chunks of its batch size."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    batch = int(inp["shape"][0])
    assert len(x) % batch == 0
    result = []
    for i in range(0, len(x), batch):
        interpreter.set_tensor(inp["index"], x[i:i + batch])
        interpreter.invoke()
        result.append(interpreter.get_tensor(out["index"]).copy())
    return np.concatenate(result)


@pytest.fixture(scope="module")
def lfw_faces(lfw_dir):
    """The first 200 distinct images of LFW View 2 pairs.txt, uint8 RGB 112x112."""
    from lrfr_tf.data.images import load_images
    from lrfr_tf.data.pairs import read_pairs, unique_paths

    paths = unique_paths(read_pairs(str(lfw_dir / "pairs.txt")))[:200]
    return load_images([os.path.join(lfw_dir, "aligned112", p) for p in paths], progress=False)


def test_shared_file_is_the_paper_layout_with_two_extra_pointwise_convs(mobilefacenet_tflite):
    """The graph gives Table 1 of Chen et al. 2018, plus a linear 1x1 after the stem and after the GDC, 192-d."""
    graph = TFLiteGraph(mobilefacenet_tflite)
    assert "DEPTHWISE_CONV_2D" in graph.describe()
    config, units = mobilefacenet_config(graph)
    assert tuple(tuple(s) for s in config["stages"]) == PAPER_STAGES
    assert config["stem_channels"] == 64 and config["head_channels"] == 512
    assert config["stem_pointwise"] and config["gdc_pointwise"] == 512
    assert config["embedding_dim"] == 192 and config["activation"] == "prelu"
    assert config["input_size"] == (112, 112) and config["gdc_size"] == (7, 7)
    assert len(units) == sum(1 for op in graph.ops if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D"))


def test_parity_with_the_file_on_200_lfw_faces(mobilefacenet_tflite, lfw_faces):
    model = load_mobilefacenet_tflite(mobilefacenet_tflite)
    assert model.head == "gdc" and model.embedding_dim == 192
    assert model.preprocessing == Preprocessing(size=(112, 112), mean=127.5, scale=1 / 128)
    x = model.preprocessing.normalize_numpy(lfw_faces)
    reference = tflite_embeddings(mobilefacenet_tflite, x)
    cos = cosines(np.concatenate([model(x[i:i + 50]) for i in range(0, len(x), 50)]), reference)
    print(f"cosine Keras vs TFLite on {len(x)} LFW faces: mean {cos.mean():.10f} (1 - mean = {1 - cos.mean():.1e}), "
          f"min {cos.min():.10f} (1 - min = {1 - cos.min():.1e})")
    assert cos.min() >= 0.9999
    # Identity-initialised BatchNorm (for fine-tuning) leaves inference unchanged.
    with_bn = load_mobilefacenet_tflite(mobilefacenet_tflite, batch_norm=True)
    assert any("bn" in w.path for w in with_bn.weights) and not any("bn" in w.path for w in model.weights)
    assert cosines(with_bn(x[:20], training=False), reference[:20]).min() >= 0.9999


def randomize_batch_norm(model, seed=0):
    """Non-trivial BN statistics so that BN folding by the converter matters."""
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers():
        if layer.__class__.__name__ == "BatchNormalization":
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c), rng.normal(0, 0.2, c),
                               rng.uniform(0.5, 2.0, c)])


@pytest.fixture(scope="module")
def other_file(tmp_path_factory):
    """A different MobileFaceNet-style file: other widths, a 3x expansion, 64 px input, 4x4 GDC, PReLU."""
    source = MobileFaceNet(stem_channels=8, stages=((2, 8, 2, 2), (3, 16, 1, 2), (2, 16, 2, 2)), head_channels=32,
                           embedding_dim=24, head="gdc", preprocessing=Preprocessing(size=(64, 64)))
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype(np.float32)
    source(x)
    randomize_batch_norm(source)
    path = export_tflite(source, x, tmp_path_factory.mktemp("other"), name="other_mobilefacenet")
    return source, path, x


def test_import_another_mobilefacenet_style_file(other_file):
    source, path, x = other_file
    model = create_backbone("mobilefacenet", weights=str(path), head="adaptive_gdc")
    assert model.stages == [[2, 8, 2, 2], [3, 16, 1, 2], [2, 16, 2, 2]]
    assert (model.stem_channels, model.head_channels, model.embedding_dim) == (8, 32, 24)
    assert not model.stem_pointwise and model.gdc_pointwise == 0 and model.grid == (4, 4)
    assert model.preprocessing.size == (64, 64)
    expected = np.asarray(source(x, training=False))
    np.testing.assert_allclose(model(x), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(run_tflite(path, x)[0], expected, rtol=1e-4, atol=1e-4)
    assert cosines(model(x), expected).min() >= 0.9999
    # The adaptive head also runs the pretrained model at a native lower resolution.
    assert np.all(np.isfinite(model(x[:, :32, :32])))


@pytest.mark.parametrize("batch_norm", [False, True])
def test_registry_and_training_config_share_one_loader(other_file, monkeypatch, batch_norm):
    """``create_backbone("mobilefacenet", weights=PATH)`` and the training config's ``model.init=PATH.tflite``
    both go through ``load_mobilefacenet_tflite`` once and give the same architecture and identical weights."""
    from lrfr_tf.models import mobilefacenet
    from lrfr_tf.train import method
    from lrfr_tf.train.config import Config

    _, path, x = other_file
    calls = []
    loader = mobilefacenet.load_mobilefacenet_tflite

    def counting_loader(*args, **kwargs):
        calls.append(str(args[0]))
        return loader(*args, **kwargs)

    monkeypatch.setattr(mobilefacenet, "load_mobilefacenet_tflite", counting_loader)
    by_registry = create_backbone("mobilefacenet", weights=str(path), batch_norm=batch_norm)
    model_config = Config(backbone="mobilefacenet", embedding_dim=24, init=str(path), init_batch_norm=batch_norm,
                          backbone_kwargs={})
    by_training_config = method.create_backbone(model_config, (64, 64, 3))
    assert calls == [str(path), str(path)]
    assert by_training_config.get_config() == by_registry.get_config()
    assert by_registry.batch_norm == batch_norm
    assert len(by_registry.weights) == len(by_training_config.weights) > 0
    for a, b in zip(by_registry.weights, by_training_config.weights):  # (auto-numbered layer names differ)
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    np.testing.assert_array_equal(by_registry(x, training=False), by_training_config(x, training=False))


def test_relu_import_keeps_the_convolutions_and_drops_the_slopes(other_file, caplog):
    """``activation="relu"`` (issue 14's ReLU student): the file's convolutions, ReLU instead of PReLU; set from
    the training config's ``model.backbone_kwargs``; other kwargs are reported as not applied."""
    from lrfr_tf.train import method
    from lrfr_tf.train.config import Config

    _, path, x = other_file
    prelu = load_mobilefacenet_tflite(str(path))
    model_config = Config(backbone="mobilefacenet", embedding_dim=24, init=str(path), init_batch_norm=False,
                          backbone_kwargs={"activation": "relu", "dropout": 0.5})
    with caplog.at_level("WARNING"):
        relu = method.create_backbone(model_config, (64, 64, 3))
    assert "'dropout': 0.5} not applied" in caplog.text
    assert relu.activation == "relu" and all(u.activation in (None, "relu") for u in relu.conv_units())
    prelu_units = prelu.conv_units()
    assert any(u.activation == "prelu" for u in prelu_units)
    for a, b in zip(prelu_units, relu.conv_units()):
        np.testing.assert_array_equal(a.conv.kernel.numpy(), b.conv.kernel.numpy())
    assert len(relu.weights) < len(prelu.weights)  # no slopes
    assert not np.allclose(relu(x), prelu(x), atol=1e-3)  # not the file's function
    with pytest.raises(ValueError, match="activation"):
        load_mobilefacenet_tflite(str(path), activation="swish")


def test_smaller_input_keeps_the_files_gdc_on_a_resized_map(other_file, tmp_path):
    """``input_size`` (issue 14's 80 px student; here 48 px for a 64 px file): the file's weights, its 4x4 GDC
    kept (``head_grid``), the 3x3 map resized to it; needs the adaptive head; survives save/load."""
    import keras

    _, path, x = other_file
    small = load_mobilefacenet_tflite(str(path), head="adaptive_gdc", input_size=(48, 48))
    full = load_mobilefacenet_tflite(str(path), head="adaptive_gdc")
    assert small.preprocessing.size == (48, 48) and small.grid == (4, 4) and small.head_grid == [4, 4]
    for a, b in zip(full.weights, small.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    y = small(x[:, :48, :48])
    assert y.shape == (2, 24) and np.all(np.isfinite(y))
    small.save(tmp_path / "small.keras")
    again = keras.saving.load_model(tmp_path / "small.keras", compile=False)
    np.testing.assert_array_equal(again(x[:, :48, :48]), y)
    with pytest.raises(ValueError, match="adaptive_gdc"):
        load_mobilefacenet_tflite(str(path), input_size=(48, 48))


@pytest.mark.slow
def test_relu_file_and_fused_activations(tmp_path):
    source = MobileFaceNet(stem_channels=8, stages=((2, 8, 1, 2), (2, 16, 2, 2), (2, 16, 1, 2)), head_channels=16,
                           embedding_dim=8, head="gdc", activation="relu", preprocessing=Preprocessing(size=(32, 32)))
    x = np.random.default_rng(1).normal(size=(1, 32, 32, 3)).astype(np.float32)
    source(x)
    randomize_batch_norm(source, seed=1)
    model = load_mobilefacenet_tflite(export_tflite(source, x, tmp_path))
    assert model.activation == "relu"
    np.testing.assert_allclose(model(x), source(x), rtol=1e-4, atol=1e-4)
    # PReLU asked of a ReLU file: slopes start at 0, so still the file's function
    prelu = load_mobilefacenet_tflite(export_tflite(source, x, tmp_path), activation="prelu")
    assert prelu.activation == "prelu" and len(prelu.weights) > len(model.weights)
    np.testing.assert_allclose(prelu(x), source(x), rtol=1e-4, atol=1e-4)


def test_imported_model_with_batch_norm_trains_and_serialises(other_file, tmp_path):
    source, path, x = other_file
    model = load_mobilefacenet_tflite(path, batch_norm=True)
    np.testing.assert_allclose(model(x, training=False), source(x, training=False), rtol=1e-4, atol=1e-4)
    assert_all_weights_get_gradients(model, np.concatenate([x, x[:, ::-1]]))
    loaded = assert_keras_save_load(model, x, tmp_path)
    assert loaded.head == "gdc" and loaded.batch_norm


def patched(graph, op_index, **changes):
    for key, value in changes.items():
        setattr(graph.ops[op_index], key, value)
    return graph


def test_unknown_graphs_raise_errors_naming_the_op(other_file, tmp_path):
    _, path, _ = other_file
    graph = TFLiteGraph(path)
    add = next(op.index for op in graph.ops if op.name == "ADD")
    with pytest.raises(TFLiteImportError, match=rf"op {add} MEAN: not an op of a MobileFaceNet-style graph"):
        mobilefacenet_config(patched(TFLiteGraph(path), add, name="MEAN"))
    # A residual addition dropped (its consumers read the projection): that bottleneck is not MobileFaceNet's.
    graph = TFLiteGraph(path)
    producer = {k: op for op in graph.ops for k in op.outputs}
    add_op = graph.ops[add]
    project = max((producer[k] for k in add_op.inputs), key=lambda op: op.index)
    graph.ops.remove(add_op)
    for op in graph.ops:
        op.inputs = [project.outputs[0] if k == add_op.outputs[0] else k for k in op.inputs]
    with pytest.raises(TFLiteImportError, match=rf"op {project.index} CONV_2D: bottleneck 8->8 stride 1 has no "
                                                r"residual addition"):
        mobilefacenet_config(graph)
    # A stride-1 stem conv is not MobileFaceNet's.
    graph = TFLiteGraph(path)
    graph.ops[0].options.strideH = graph.ops[0].options.strideW = 1
    with pytest.raises(TFLiteImportError, match=r"op 0 CONV_2D: the stem conv3x3 must have stride 2"):
        mobilefacenet_config(graph)


@pytest.mark.slow
def test_a_real_non_mobilefacenet_graph_is_refused(tmp_path):
    """An IResNet (symmetric padding -> PAD ops, BN before convs) is named at its first foreign op."""
    model = create_backbone("iresnet18", units=(1, 1, 1, 1), channels=(4, 4, 4, 4), stem_channels=4, embedding_dim=4)
    x = np.zeros((1, 32, 32, 3), np.float32)
    model(x)
    with pytest.raises(TFLiteImportError, match=r"op \d+ [A-Z_]+: "):
        load_mobilefacenet_tflite(export_tflite(model, x, tmp_path))


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.tflite"):
        load_mobilefacenet_tflite(tmp_path / "missing.tflite")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(TFLiteImportError, match="not a TFLite flatbuffer"):
        load_mobilefacenet_tflite(bad)


@pytest.mark.slow
def test_lfw_accuracy_equals_the_file(mobilefacenet_tflite, lfw_dir, tmp_path):
    """LFW View 2 10-fold accuracy at 112 px through the evaluation harness: Keras import == file within 0.1
    point, and near the file's published 99.05% (the harness measured 99.23% for both)."""
    from lrfr_tf.eval import protocols
    from lrfr_tf.eval.embedders import load_embedder
    from lrfr_tf.eval.lfw import PairsData, evaluate_verification

    keras_path = tmp_path / "mobilefacenet.keras"
    load_mobilefacenet_tflite(mobilefacenet_tflite).save(keras_path)
    data = PairsData(str(lfw_dir))
    accuracy = {}
    for name, path in (("keras", keras_path), ("tflite", mobilefacenet_tflite)):
        results, _ = evaluate_verification(load_embedder(str(path)), data, [protocols.hr_protocol(data.num_pairs)],
                                           progress=False)
        accuracy[name] = next(iter(results.values()))["accuracy"]
    print(f"LFW 10-fold accuracy at 112 px: {accuracy}")
    assert abs(accuracy["keras"] - accuracy["tflite"]) <= 0.001
    assert accuracy["tflite"] == pytest.approx(0.9905, abs=0.003)
