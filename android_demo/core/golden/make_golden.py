"""Golden files for the Kotlin core's parity tests, written by the Python edge runtime itself.

Run from the repository root with the main environment::

    python android_demo/core/golden/make_golden.py            # rewrites android_demo/core/golden/
    python android_demo/core/golden/make_golden.py --out DIR  # somewhere else (the drift test does this)

Every number here comes from ``lrfr_tf.edge`` / ``lrfr_tf.preprocessing`` / ``lrfr_tf.litert`` (nothing is
re-implemented): ``umeyama`` + ``template_for`` (alignment matrices), ``align`` (one warp, compared by the Kotlin
warp within one grey level), ``Preprocessing.normalize_numpy`` + ``litert.quantize`` (model inputs),
``Gallery.save`` / ``Gallery.best_match`` + ``parse_thresholds`` / ``face_px`` / ``decide`` (decisions). The
Kotlin tests (``android_demo/core/src/test``) must reproduce them to 1e-5; ``tests/edge/test_android_golden.py``
regenerates them in a temporary folder and fails when the committed files drift from the Python runtime.

Files: ``alignment.json``, ``blazeface.json`` (detector post-processing), ``detector_input.json`` (the detector's input per region), ``preprocessing.json``, ``warp.json``, ``decisions.json``, ``gallery.npz`` (+
``gallery_empty.npz``), ``bad/*.npz`` (files the Kotlin gallery reader refuses, made by NumPy's own writer;
``bad_galleries.json`` says what is wrong with each; Python's reader converts the float64, big-endian and
Fortran-order ones) and ``model_plain.tflite`` / ``model_metadata.tflite`` (a graph-less flatbuffer without and
with the export metadata of ``tflite_metadata.json``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import sys

import cv2
import numpy as np

from lrfr_tf.edge import decisions
from lrfr_tf.edge.alignment import TEMPLATE_112, align, template_for, umeyama
from lrfr_tf.edge.gallery import Gallery
from lrfr_tf.litert import quantize
from lrfr_tf.preprocessing import ARCFACE, SPHEREFACE_112X96, Preprocessing

HERE = os.path.dirname(os.path.abspath(__file__))
#: The model the golden gallery pretends to come from: sha256 of these bytes.
MODEL_BYTES = b"lrfr_tf android golden model\n"
GALLERY_SHA256 = hashlib.sha256(MODEL_BYTES).hexdigest()


def similarity(points, scale, degrees, tx, ty):
    """points [n, 2] rotated by ``degrees``, scaled and shifted."""
    a = math.radians(degrees)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return scale * points @ rot.T + np.array([tx, ty])


def landmarks(scale, degrees, tx, ty, noise, seed):
    """Five camera landmarks: the ArcFace template moved into a frame, with seeded noise (a least-squares fit)."""
    rng = np.random.default_rng(seed)
    return similarity(TEMPLATE_112, scale, degrees, tx, ty) + rng.normal(scale=noise, size=(5, 2))


def synthetic_image(height, width):
    """Deterministic RGB uint8 test picture; the Kotlin tests compute the same formula."""
    y, x = np.mgrid[0:height, 0:width]
    channels = [(x * 7 + y * 13 + c * 50 + (x * y) % 17) % 256 for c in range(3)]
    return np.stack(channels, -1).astype(np.uint8)


def alignment_cases():
    sphere_small = Preprocessing(size=(56, 48), crop=(112, 96))
    bgr_64 = Preprocessing(size=(64, 64), mean=128.0, scale=1 / 127.5, channels="BGR")
    cases = [
        ("identity", ARCFACE, TEMPLATE_112.copy()),
        ("rotated_scaled", ARCFACE, landmarks(2.5, 30.0, 410.0, 120.0, 1.5, 1)),
        ("small_face", ARCFACE, landmarks(0.16, -12.0, 300.5, 200.25, 0.3, 2)),
        ("upside_down", ARCFACE, landmarks(0.8, 175.0, 90.0, 60.0, 0.7, 3)),
        # the template mirrored left-right: the least-squares similarity is a rotation, never a reflection
        ("mirrored", ARCFACE, TEMPLATE_112 * np.array([-1.0, 1.0]) + np.array([200.0, 10.0])),
        ("sphereface_112x96", SPHEREFACE_112X96, landmarks(1.3, 8.0, 50.0, 70.0, 1.0, 4)),
        ("sphereface_56x48", sphere_small, landmarks(0.5, -40.0, 120.0, 300.0, 0.4, 5)),
        ("bgr_64", bgr_64, landmarks(0.3, 90.0, 10.0, 20.0, 0.2, 6)),
    ]
    out = []
    for name, pre, points in cases:
        template = template_for(pre)
        matrix = umeyama(points, template)
        out.append({"name": name, "preprocessing": pre.get_config(), "landmarks": points.tolist(),
                    "template": template.tolist(), "matrix": matrix.tolist(),
                    "determinant": float(np.linalg.det(matrix[:, :2])), "face_px": decisions.face_px(matrix)})
    return {"cases": out}


def checksums(x: np.ndarray) -> dict:
    flat = np.asarray(x, np.float64).ravel()
    weights = (np.arange(flat.size) % 7 + 1).astype(np.float64)
    return {"sum": float(flat.sum()), "sum_squares": float((flat ** 2).sum()), "weighted_sum": float(flat @ weights),
            "sha256": hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()}


def preprocessing_cases(aligned112: np.ndarray):
    """Normalised (float32) and quantised (int8/uint8) model inputs of a small crop (all values) and of the
    aligned 112x112 crop of warp.json (checksums: sums, and sha256 of the little-endian bytes)."""
    small = ((np.arange(4 * 3 * 3).reshape(4, 3, 3) * 37 + 11) % 256).astype(np.uint8)
    small[0, 0] = (0, 255, 128)
    contracts = [
        ("arcface", ARCFACE, None),
        ("bgr_mean128", Preprocessing(mean=128.0, scale=1 / 127.5, channels="BGR"), None),
        ("int8_arcface", ARCFACE, {"dtype": "int8", "scale": 0.0078125, "zero_point": 0}),
        ("int8_offset", ARCFACE, {"dtype": "int8", "scale": 0.0123, "zero_point": -3}),
        ("uint8_bgr", Preprocessing(mean=127.5, scale=1 / 127.5, channels="BGR"),
         {"dtype": "uint8", "scale": 1 / 128.0, "zero_point": 128}),
    ]
    out = []
    for name, pre, quant in contracts:
        case = {"name": name, "preprocessing": pre.get_config(), "quantization": quant}
        for key, crop in (("small", small), ("aligned112", aligned112)):
            x = pre.normalize_numpy(crop[None])[0].astype(np.float32)
            if quant is not None:
                detail = {"dtype": np.dtype(quant["dtype"]).type, "quantization": (quant["scale"], quant["zero_point"])}
                x = quantize(x, detail)
            entry = {"shape": list(crop.shape), "checksums": checksums(x)}
            if key == "small":
                entry["crop"] = crop.ravel().tolist()
                entry["values"] = [float(v) if quant is None else int(v) for v in x.ravel()]
            case[key] = entry
        out.append(case)
    return {"cases": out}


def warp_case():
    """One face aligned by ``lrfr_tf.edge.alignment.align`` (border replicate, no pre-shrink: scale >= 0.5)."""
    image = synthetic_image(90, 120)
    points = landmarks(0.9, 20.0, 10.0, 5.0, 0.5, 7)  # partly outside the frame: the border is replicated
    face, matrix = align(image, points, ARCFACE)
    return face, {"opencv": cv2.__version__, "image_size": [90, 120], "landmarks": points.tolist(), "matrix": matrix.tolist(),
                  "face_shape": list(face.shape), "face": base64.b64encode(face.tobytes()).decode("ascii")}


def unit(x):
    x = np.asarray(x, np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


HAND_TABLE = [  # a gap at 20-22 px and an abstaining row, in unsorted order (parse_thresholds sorts)
    {"min_px": 22, "max_px": 50, "threshold": 0.35, "far": 0.01},
    {"min_px": 8, "max_px": 14, "threshold": None, "far": None},
    {"min_px": 14, "max_px": 20, "threshold": 0.6},
    {"min_px": 50, "max_px": None, "threshold": 0.3, "far": 0.001},
]

BAD_TABLES = [
    [{"min_px": 10, "max_px": 20, "threshold": 0.5}, {"min_px": 15, "max_px": 30, "threshold": 0.4}],  # overlap
    [{"min_px": 10, "max_px": None, "threshold": 0.5}, {"min_px": 30, "max_px": 40, "threshold": 0.4}],  # open row first
    [{"min_px": 20, "max_px": 10, "threshold": 0.5}],  # max <= min
    [{"min_px": -1, "max_px": 10, "threshold": 0.5}],  # negative
    [{"min_px": 10, "max_px": 20, "threshold": 1.5}],  # not a cosine
    [{"min_px": 10, "max_px": 20}],  # no threshold key
    [{"min_px": "ten", "max_px": 20, "threshold": 0.5}],  # not a number
    ["not a row"],
]


def decision_cases(out_dir):
    rng = np.random.default_rng(11)
    dim = 16
    names = ["ann", "ann", "bob", "cid", "dee"]
    rows = unit(rng.normal(size=(len(names), dim)))
    gallery = Gallery(GALLERY_SHA256, dim, rows, names, [f"{n}/{i}.jpg" for i, n in enumerate(names)])
    gallery.save(os.path.join(out_dir, "gallery.npz"))
    Gallery(GALLERY_SHA256, dim, np.zeros((0, dim), np.float32), [], []).save(os.path.join(out_dir, "gallery_empty.npz"))

    hand = decisions.parse_thresholds(HAND_TABLE, "hand table")
    default = list(decisions.DEFAULT_THRESHOLDS)
    # probes: (gallery row to start from, mix of noise, alignment scale c with face_px = 112 / c)
    specs = [(0, 0.05, 1.0), (1, 0.4, 1 / 0.3), (2, 0.8, 112 / 18.0), (3, 1.5, 112 / 30.0), (4, 0.1, 112 / 10.0),
             (2, 0.3, 112 / 21.0), (3, 0.6, 112 / 60.0), (0, 3.0, 112 / 45.0), (1, 0.2, 112 / 13.0),
             (4, 0.5, 112 / 16.0), (2, 0.9, 112 / 200.0), (0, 0.7, 112 / 24.0)]
    probes = []
    for i, (row, noise, inv_scale) in enumerate(specs):
        embedding = unit(rows[row] + noise * unit(rng.normal(size=dim)))
        points = landmarks(1.0 / inv_scale, float(rng.uniform(-30, 30)), 300.0, 200.0, 0.05 / inv_scale, 100 + i)
        matrix = umeyama(points, template_for(ARCFACE))
        size = decisions.face_px(matrix)
        (name, sim), = gallery.best_match(embedding[None])
        (empty_name, empty_sim), = Gallery(GALLERY_SHA256, dim, np.zeros((0, dim)), [], []).best_match(embedding[None])
        entry = {"embedding": embedding.tolist(), "landmarks": points.tolist(), "face_px": size,
                 "best_name": name, "best_similarity": sim}
        for key, table, gallery_name, gallery_sim in (("hand", hand, name, sim), ("default", default, name, sim),
                                                      ("hand_empty_gallery", hand, empty_name, empty_sim)):
            d = decisions.decide(size, gallery_name, gallery_sim, table)
            entry[key] = {"answer": d.answer, "similarity": d.similarity, "threshold": d.threshold,
                          "bucket": None if d.bucket is None else [d.bucket.min_px, d.bucket.max_px]}
        probes.append(entry)
    bucket_rows = lambda buckets: [{"min_px": b.min_px, "max_px": b.max_px, "threshold": b.threshold, "far": b.far}
                                   for b in buckets]
    bad = []
    for table in BAD_TABLES:
        try:
            decisions.parse_thresholds(table, "bad table")
        except ValueError as e:
            bad.append({"rows": table, "error": str(e)})
        else:
            raise AssertionError(f"parse_thresholds accepted {table}")
    return {"model_sha256": GALLERY_SHA256, "model_bytes": MODEL_BYTES.decode("ascii"), "embedding_dim": dim,
            "gallery": {"names": names, "embeddings": rows.tolist(), "sources": gallery.sources},
            "hand_table": HAND_TABLE, "hand_buckets": bucket_rows(hand), "default_buckets": bucket_rows(default),
            "bad_tables": bad, "probes": probes}


def bad_galleries(out_dir):
    """Files a gallery reader must refuse, each written by NumPy: {file: what is wrong}."""
    bad_dir = os.path.join(out_dir, "bad")
    os.makedirs(bad_dir, exist_ok=True)
    rows = unit(np.random.default_rng(5).normal(size=(2, 4)))
    base = dict(format_version=np.int64(1), model_sha256=np.str_(GALLERY_SHA256), embedding_dim=np.int64(4),
                names=np.array(["a", "b"]), embeddings=rows, sources=np.array(["1", "2"]))
    cases = {
        "float64.npz": ({**base, "embeddings": rows.astype(np.float64)}, "float64 embeddings"),
        "big_endian.npz": ({**base, "embeddings": rows.astype(">f4")}, "big-endian embeddings"),
        "fortran.npz": ({**base, "embeddings": np.asfortranarray(np.tile(rows, (1, 1)).T.copy().T)}, "Fortran order"),
        "pickled.npz": ({**base, "names": np.array(["a", {"evil": 1}], dtype=object)}, "pickled names"),
        "version2.npz": ({**base, "format_version": np.int64(2)}, "format version 2"),
        "missing_key.npz": ({k: v for k, v in base.items() if k != "sources"}, "no sources"),
        "shape_mismatch.npz": ({**base, "names": np.array(["a", "b", "c"])}, "3 names, 2 rows"),
        "nan.npz": ({**base, "embeddings": np.array([[np.nan, 0, 0, 0], [1, 0, 0, 0]], np.float32)}, "NaN"),
        "dim_mismatch.npz": ({**base, "embedding_dim": np.int64(8)}, "embedding_dim 8, rows of 4"),
    }
    described = {}
    for file, (arrays, what) in cases.items():
        np.savez(os.path.join(bad_dir, file), **arrays)
        described[file] = what
    with open(os.path.join(bad_dir, "not_a_zip.npz"), "wb") as f:
        f.write(b"PK but not really a zip archive\n")
    described["not_a_zip.npz"] = "not a zip archive"
    with open(os.path.join(out_dir, "gallery.npz"), "rb") as f:
        whole = f.read()
    with open(os.path.join(bad_dir, "truncated.npz"), "wb") as f:
        f.write(whole[: len(whole) // 2])
    described["truncated.npz"] = "the first half of gallery.npz"
    return described


def tflite_files(out_dir):
    """A minimal .tflite flatbuffer (no graph) without and with an ``lrfr_tf`` metadata entry written by
    ``lrfr_tf.model_metadata.embed_in_tflite``: the Kotlin reader must find the document, and nothing in the other."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    from lrfr_tf import model_metadata

    model = schema.ModelT()
    model.version, model.buffers, model.subgraphs, model.operatorCodes = 3, [schema.BufferT()], [], []
    builder = flatbuffers.Builder(64)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    plain = bytes(builder.Output())
    metadata = {"format_version": 1, "name": "golden", "embedding_dim": 16,
                "input": {"layout": "NHWC", "dtype": "int8", "size": [112, 96], "contract": "normalized"},
                "preprocessing": Preprocessing(size=(112, 96), crop=(112, 96), channels="BGR", mean=128.0).get_config(),
                "thresholds": HAND_TABLE, "note": "unicode \u00e9 and escapes \" \\ \n"}
    with open(os.path.join(out_dir, "model_plain.tflite"), "wb") as f:
        f.write(plain)
    with open(os.path.join(out_dir, "model_metadata.tflite"), "wb") as f:
        f.write(model_metadata.embed_in_tflite(plain, metadata, "golden model"))
    return metadata


def blazeface_cases():
    """BlazeFace post-processing on made-up raw outputs: anchors, decoding, weighted NMS, tiles, the choice
    across passes and the five points from keypoints (``lrfr_tf.edge.detector`` / ``landmarks``)."""
    from lrfr_tf.edge import detector
    from lrfr_tf.edge.landmarks import five_points_from_keypoints

    anchors = {}
    for name, spec in detector.MODELS.items():
        a = detector.ssd_anchor_centres(spec.input_size, spec.strides, spec.interpolated_scale_aspect_ratio)
        anchors[name] = {"count": len(a), "sum": a.astype(np.float64).sum(0).tolist(), "rows": {str(i): a[i].tolist() for i in
                         (0, 1, 2, 511, 512, len(a) - 1)}}
    spec = detector.MODELS["full"]
    a = detector.ssd_anchor_centres(spec.input_size, spec.strides, spec.interpolated_scale_aspect_ratio)
    rng = np.random.default_rng(21)
    raw_boxes = np.zeros((len(a), 16), np.float32)
    raw_scores = np.full((len(a), 1), -8.0, np.float32)
    for centre, size in (((60.0, 80.0), 30.0), ((130.0, 100.0), 12.0)):  # two faces, a cluster of anchors each
        near = np.where(np.linalg.norm(a * 192 - np.array(centre), axis=1) < size / 2)[0]
        for i in near:
            offset = np.array(centre) - a[i] * 192
            raw_boxes[i, 0:2] = offset + rng.normal(scale=1.0, size=2)
            raw_boxes[i, 2:4] = size + rng.normal(scale=1.0, size=2)
            eyes = np.array([[-0.2, -0.1], [0.2, -0.1], [0.0, 0.05], [0.0, 0.25], [-0.45, 0.0], [0.45, 0.0]]) * size
            raw_boxes[i, 4:] = (offset + eyes + rng.normal(scale=0.5, size=(6, 2))).ravel()
            raw_scores[i] = rng.uniform(-1.0, 4.0)
    boxes, keypoints, scores = detector.decode(raw_boxes, raw_scores, a, spec.input_size, spec.min_score)
    faces = detector.weighted_nms(boxes, keypoints, scores)
    as_dict = lambda f: {"box": np.asarray(f.box, np.float64).tolist(), "keypoints": np.asarray(f.keypoints, np.float64).tolist(),
                         "score": float(f.score)}
    # passes: the faces as found (magnification 1), a blurred copy at 0.5 shifted a little, and a far-away face
    shifted = [detector.Detection(f.box + 0.01, f.keypoints + 0.01, f.score + 0.01) for f in faces]
    lone = [detector.Detection(np.array([0.8, 0.8, 0.9, 0.92]), np.full((6, 2), 0.85), 0.7)]
    passes = [(0.5, shifted + lone), (1.0, faces)]
    tiles = detector.tile_regions(640, 480, 192, 48)
    probe_boxes = np.array([[150, 10, 180, 40], [191, 5, 230, 40], [200, 200, 300, 300], [500, 400, 560, 470]], np.float32)
    inside = {f"{x0},{y0},{t}": detector.FaceDetector._inside_tile(None, probe_boxes, x0, y0, t, 640, 480).tolist()
              for x0, y0, t in tiles[:6]}
    hot = np.where(raw_scores[:, 0] != -8.0)[0]  # the other anchors: logit -8, raw boxes 0
    return {"anchors": anchors, "background_logit": -8.0, "hot_anchors": hot.tolist(),
            "hot_raw_boxes": raw_boxes[hot].tolist(), "hot_raw_scores": raw_scores[hot, 0].tolist(),
            "decoded_count": int(len(scores)), "nms": [as_dict(f) for f in faces],
            "passes": [[m, [as_dict(f) for f in p]] for m, p in passes],
            "best_across_passes": [as_dict(f) for f in detector.best_across_passes(passes)],
            "tiles_640x480_192_48": [list(map(int, t)) for t in tiles], "tiles_1000x190_192_48": [list(map(int, t)) for t in
                                                                                              detector.tile_regions(1000, 190, 192, 48)],
            "probe_boxes": probe_boxes.tolist(), "inside_tile": inside,
            "five_points": [five_points_from_keypoints(f.keypoints).tolist() for f in faces]}


def detector_input_cases():
    """The detector's input for regions of a frame (letterboxed whole frame: area averaging; tiles at 1:1, inside and
    across the frame edge) and the map of a detection back to frame pixels, captured from ``FaceDetector._run``
    with a stand-in interpreter (the input it is given, one made-up detection out)."""
    from lrfr_tf.edge import detector

    spec = detector.MODELS["short"]
    anchors = detector.ssd_anchor_centres(spec.input_size, spec.strides, spec.interpolated_scale_aspect_ratio)
    hot = 300
    raw_boxes = np.zeros((1, len(anchors), 16), np.float32)
    raw_boxes[0, hot] = [3.0, -2.0, 20.0, 24.0, -4.0, -3.0, 4.0, -3.0, 0.0, 1.0, 0.0, 5.0, -9.0, 0.0, 9.0, 0.0]
    raw_scores = np.full((1, len(anchors), 1), -20.0, np.float32)
    raw_scores[0, hot, 0] = 3.0

    class Interpreter:
        def set_tensor(self, index, value):
            self.input = np.array(value)

        def invoke(self):
            pass

        def get_tensor(self, index):
            return raw_boxes if index == 1 else raw_scores

    det = detector.FaceDetector.__new__(detector.FaceDetector)
    det.spec, det.min_score, det.anchors = spec, spec.min_score, anchors
    det._interpreter, det._input, det._boxes, det._scores = Interpreter(), {"index": 0}, 1, 2
    image = synthetic_image(150, 200)
    cases = []
    for name, (x0, y0, side) in {"letterbox": (0, -25, 200), "wide_region": (-50, -60, 300),
                                 "tile_inside": (20, 10, 128), "tile_across_edge": (100, 60, 128)}.items():
        boxes, keypoints, scores = det._run(image, x0, y0, side)
        pixels = np.rint((det._interpreter.input[0] + 1.0) * 127.5).astype(np.uint8)
        shrunk = side > spec.input_size  # area averaging: all bytes (the Kotlin test allows one grey level)
        cases.append({"name": name, "region": [x0, y0, side],
                      "input": base64.b64encode(pixels.tobytes()).decode("ascii") if shrunk else None,
                      "input_sha256": hashlib.sha256(pixels.tobytes()).hexdigest(),
                      "boxes": boxes.astype(np.float64).tolist(), "keypoints": keypoints.astype(np.float64).tolist(),
                      "scores": scores.tolist()})
    return {"opencv": cv2.__version__, "model": "short", "image_size": [150, 200], "hot_anchor": hot, "hot_raw_box": raw_boxes[0, hot].tolist(),
            "hot_logit": 3.0, "background_logit": -20.0, "cases": cases}


def write_json(path, data):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=HERE, help="folder to write the golden files to (default: beside this script)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    write_json(os.path.join(args.out, "alignment.json"), alignment_cases())
    face, warp = warp_case()
    write_json(os.path.join(args.out, "warp.json"), warp)
    write_json(os.path.join(args.out, "preprocessing.json"), preprocessing_cases(face))
    write_json(os.path.join(args.out, "decisions.json"), decision_cases(args.out))
    write_json(os.path.join(args.out, "bad_galleries.json"), bad_galleries(args.out))
    write_json(os.path.join(args.out, "tflite_metadata.json"), tflite_files(args.out))
    write_json(os.path.join(args.out, "blazeface.json"), blazeface_cases())
    write_json(os.path.join(args.out, "detector_input.json"), detector_input_cases())
    print(f"golden files written to {os.path.relpath(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
