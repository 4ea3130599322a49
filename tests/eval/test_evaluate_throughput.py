"""The fast evaluation path (fused-PReLU graph, parallel one-thread interpreters, every protocol's inputs embedded
up front in one stream with the degradation overlapped) gives the committed reference figures bit for bit.

The committed per-pair similarities (results/reference/scores_MobileFaceNet.npz, float32, from the reference run
with the file's graph, batch 2, one interpreter, one protocol at a time) must come out exactly, on 60 LFW pairs
under full resolution, two published protocols (many sizes, both flips), CR 8 and ER 16. A wrong slope, a
chunk degraded at another chunk's size, rows mixed between interpreters or a batch that changed a row's
arithmetic changes a score.
"""

import collections
import pathlib

import numpy as np
import pytest

from lrfr_tf.eval import protocols as P
from lrfr_tf.eval.embedders import load_embedder
from lrfr_tf.eval.lfw import PairsData, evaluate_verification
from lrfr_tf.litert import fuse_decomposed_prelu

REFERENCE_SCORES = pathlib.Path(__file__).resolve().parents[2] / "results" / "reference" / "scores_MobileFaceNet.npz"
ROWS = np.r_[0:15, 300:315, 15:30, 315:330]  # 30 same and 30 different pairs of fold 1, as two folds


@pytest.fixture(scope="module")
def subset(lfw_dir, tmp_path_factory):
    """PairsData over the pairs ``ROWS`` of pairs.txt, in that order (two folds of 15 + 15)."""
    lines = (lfw_dir / "pairs.txt").read_text().splitlines()[1:]
    path = tmp_path_factory.mktemp("pairs") / "pairs_subset.txt"
    path.write_text("\n".join(["2 15"] + [lines[i] for i in ROWS]) + "\n")
    return PairsData(str(lfw_dir), str(path)), ROWS


def test_fused_prelu_graph_computes_the_file_graph(mobilefacenet_tflite, subset):
    from ai_edge_litert.interpreter import Interpreter

    data = mobilefacenet_tflite.read_bytes()
    fused = fuse_decomposed_prelu(data)
    ops = [collections.Counter(o["op_name"] for o in _ops(model)) for model in (data, fused)]
    assert ops[0]["RELU"] == ops[0]["ABS"] == ops[0]["SUB"] == ops[0]["MUL"] == 33 and ops[0]["ADD"] == 45
    assert ops[1]["PRELU"] == 33 and ops[1]["ADD"] == 12 and not ops[1]["RELU"] + ops[1]["ABS"] + ops[1]["SUB"] + ops[1]["MUL"]
    assert ops[1]["CONV_2D"] == ops[0]["CONV_2D"] and ops[1]["DEPTHWISE_CONV_2D"] == ops[0]["DEPTHWISE_CONV_2D"]
    faces = (subset[0].image_set.images(False)[:8].astype(np.float32) - 127.5) / 128.0
    outs = []
    for model in (data, fused):
        interp = Interpreter(model_content=model, num_threads=1)
        interp.allocate_tensors()
        rows = []
        for start in range(0, len(faces), 2):
            interp.set_tensor(interp.get_input_details()[0]["index"], faces[start:start + 2])
            interp.invoke()
            rows.append(interp.get_tensor(interp.get_output_details()[0]["index"]).copy())
        outs.append(np.concatenate(rows))
    np.testing.assert_array_equal(outs[1], outs[0])
    assert fuse_decomposed_prelu(fused) is None  # nothing left to fuse


def _ops(model: bytes):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    return interp._get_ops_details()


def test_fast_path_reproduces_committed_reference_scores(mobilefacenet_tflite, lfw_dir, subset):
    data, rows = subset
    reference = np.load(REFERENCE_SCORES)
    embedder = load_embedder(str(mobilefacenet_tflite), preprocessing="arcface", num_threads=2)
    assert embedder.graph == "fused_prelu" and len(embedder._interpreters) == 2
    n = data.num_pairs
    protocols = [P.hr_protocol(n), P.cross_resolution(n, 8), P.equal_resolution(n, 16)]
    for stem, name in (("low_res_focus", "low_res"), ("avg_sizes", "all_res")):
        sizes = P.read_protocol(str(lfw_dir / "protocols" / f"{stem}.csv"), 6000).reshape(-1, 2)[rows]
        protocols.append(P.from_sizes(name, sizes))
    _, scores = evaluate_verification(embedder, data, protocols, progress=False)
    for protocol in protocols:
        got = scores[protocol.name].astype(np.float32)
        np.testing.assert_array_equal(got, reference[protocol.name][:, rows], err_msg=protocol.name)
    assert len(np.unique(protocols[-1].flips[0][1])) > 20  # all_res: many sizes in one stream
