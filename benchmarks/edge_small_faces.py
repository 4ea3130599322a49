"""Small faces in a 640x480 frame: detection recall and rank-1 identification per face size, and the latency of
every stage of lrfr_tf.edge's pipeline (issue 12, items 4 and 5).

Frames. Each of the 198 raw 250x250 LFW images (lfw/raw250) is shrunk (area averaging) so that its face is
``--sizes`` px (12, 16, 24, 32, 48) and pasted, ``--faces_per_frame`` to a frame without overlap, at seeded
random places into a 640x480 frame of smooth seeded clutter (blurred noise, no faces). A face's size is the unit
of lrfr_tf's resolution protocols and of ``lrfr_tf.edge.decisions``: the side, in frame pixels, of the region its
aligned 112x112 face covers (112 / the scale of the similarity that maps its MTCNN points from
lfw/landmarks_250px.tsv onto the ArcFace template; about 3.2x the inter-ocular distance; BlazeFace's box is about
0.9x of it). The JSON records the detected boxes' median height per size too.

Detection: a pasted face is found when a detection's eye keypoints lie within 0.25 x its inter-ocular distance
of the true eyes (MTCNN's points moved with the paste). Configurations: BlazeFace short range and full range on
the whole letterboxed frame, and full range with overlapping tiles (``--tiles``, tile side in frame pixels: the
model sees each at 192 / side magnification).

Identification: the gallery holds the full-size raw images, enrolled with the same pipeline (full range, face
mesh); every found face is aligned (face mesh, or BlazeFace's keypoints) and embedded with the pretrained
MobileFaceNet, and matched to the best gallery row. rank-1 is reported two ways: against the whole gallery (the
probe's own full-size image is in it, as the issue specifies) and leave-one-out (that image removed; faces of the
identities with another image only). Both are over found faces; ``end_to_end`` = found and right, over all faces.
The answers of ``lrfr_tf.edge.decisions``' default table (name / unknown / too small) are counted too.

Latency: ``--latency_frames`` frames with ``--faces_per_frame`` faces of 32 px, at num_threads 1 and 2, each
configuration's stages timed per call (time.perf_counter): detect per frame; landmarks, alignment, embedding (the
faces of a frame in one call, per face = call / faces) and match per face. Median and p90 in ms.

  python benchmarks/edge_small_faces.py                      # ~15 min on 2 shared cores
  python benchmarks/edge_small_faces.py --quick --out=/tmp/sf.json
  python benchmarks/edge_small_faces.py --plot_only          # re-print and re-draw from the JSON
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from lrfr_tf.edge import decisions  # noqa: E402
from lrfr_tf.edge.alignment import TEMPLATE_112, align, umeyama  # noqa: E402
from lrfr_tf.edge.detector import FaceDetector  # noqa: E402
from lrfr_tf.edge.embedder import TFLiteEmbedder  # noqa: E402
from lrfr_tf.edge.gallery import Gallery  # noqa: E402
from lrfr_tf.edge.inputs import read_image  # noqa: E402
from lrfr_tf.edge.landmarks import LandmarkFinder  # noqa: E402
from lrfr_tf.cli_logging import progress_bar  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
FRAME_W, FRAME_H = 640, 480
LANDMARK_COLUMNS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
EYE_MATCH = 0.25  # a detection's eyes within this fraction of the inter-ocular distance of the true ones


def read_mtcnn_landmarks(lfw: Path) -> dict:
    """{relative image path: MTCNN's five points [5, 2] in template order} from lfw/landmarks_250px.tsv (the
    points lfw/aligned112 was made with)."""
    import csv

    with open(Path(lfw) / "landmarks_250px.tsv", newline="") as f:
        return {r["file"]: np.array([[float(r[f"x_{k}"]), float(r[f"y_{k}"])] for k in LANDMARK_COLUMNS])
                for r in csv.DictReader(f, delimiter="\t")}


def raw_files(lfw: Path) -> list:
    """The images of lfw/raw250, relative to it, sorted."""
    root = Path(lfw) / "raw250"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.jpg"))


def load_faces(lfw: Path):
    """[(relative path, identity, RGB image, MTCNN points [5, 2])] of lfw/raw250."""
    points = read_mtcnn_landmarks(lfw)
    return [(f, f.split("/")[0], read_image(str(lfw / "raw250" / f)), points[f]) for f in raw_files(lfw)]


def face_px_of(points: np.ndarray) -> float:
    return decisions.face_px(umeyama(points, TEMPLATE_112))


def clutter(rng: np.random.Generator) -> np.ndarray:
    """A 640x480 RGB frame of smooth random clutter: noise blurred at two scales, no faces."""
    coarse = cv2.resize(rng.uniform(0, 255, (12, 16, 3)).astype(np.float32), (FRAME_W, FRAME_H), interpolation=cv2.INTER_CUBIC)
    fine = cv2.GaussianBlur(rng.uniform(0, 255, (FRAME_H, FRAME_W, 3)).astype(np.float32), (0, 0), 4) - 127.5
    return np.clip(coarse + 2.0 * fine, 0, 255).astype(np.uint8)


def make_frames(faces, size: int, per_frame: int, seed: int):
    """Frames with every face shrunk to ``size`` px: [(frame, [(face index, points in the frame [5, 2])])]."""
    rng = np.random.default_rng([seed, size])
    order = rng.permutation(len(faces))
    frames = []
    for start in range(0, len(order), per_frame):
        frame, placed, taken = clutter(rng), [], []
        for index in order[start:start + per_frame]:
            _, _, image, points = faces[index]
            scale = size / face_px_of(points)
            small = cv2.resize(image, (max(1, round(250 * scale)), max(1, round(250 * scale))), interpolation=cv2.INTER_AREA)
            h, w = small.shape[:2]
            for _ in range(200):  # a free spot
                x, y = int(rng.integers(0, FRAME_W - w + 1)), int(rng.integers(0, FRAME_H - h + 1))
                if all(x + w <= a or a + b <= x or y + h <= c or c + d <= y for a, c, b, d in taken):
                    break
            taken.append((x, y, w, h))
            frame[y:y + h, x:x + w] = small
            gain = np.array([w / 250.0, h / 250.0])
            placed.append((int(index), (points + 0.5) * gain - 0.5 + [x, y]))
        frames.append((frame, placed))
    return frames


def match_detections(detections, placed):
    """{face index: detection} for the pasted faces a detection's eyes point at (each detection used once)."""
    found, used = {}, set()
    for index, points in placed:
        iod = np.linalg.norm(points[1] - points[0])
        best, best_error = None, EYE_MATCH
        for k, det in enumerate(detections):
            if k in used:
                continue
            error = np.linalg.norm(det.keypoints[:2] - points[:2], axis=1).max() / iod
            if error < best_error:
                best, best_error = k, error
        if best is not None:
            used.add(best)
            found[index] = detections[best]
    return found


def enroll_gallery(faces, embedder, detector, finder):
    """The full-size images' embeddings (the central face of each), as lrfr_tf.edge enroll makes them."""
    names, sources, embeddings = [], [], []
    for relative, identity, image, _ in progress_bar(faces, desc="gallery", unit="image"):
        dets = detector.detect(image)
        if not dets:
            continue
        det = min(dets, key=lambda d: np.linalg.norm((d.box[:2] + d.box[2:]) / 2 - 125))
        crop, _ = align(image, finder.find(image, det), embedder.preprocessing)
        names.append(identity)
        sources.append(relative)
        embeddings.append(embedder.embed(crop[None])[0])
    return Gallery(embedder.sha256, embedder.dim, np.stack(embeddings), names, sources)


def rank1(gallery: Gallery, embedding: np.ndarray, source: str, identity: str):
    """(right against the whole gallery, right leave-one-out or None when the identity has no other image)."""
    scores = gallery.embeddings @ embedding
    names = np.array(gallery.names)
    whole = names[int(np.argmax(scores))] == identity
    others = np.array([s != source for s in gallery.sources])
    if not (others & (names == identity)).any():
        return whole, None, float(scores.max())
    masked = np.where(others, scores, -np.inf)
    return whole, names[int(np.argmax(masked))] == identity, float(scores.max())


def evaluate(faces, gallery, embedder, configs, sizes, per_frame, seed, landmark_methods, num_threads):
    rows = []
    finders = {m: LandmarkFinder(m, num_threads) for m in landmark_methods}
    for config in configs:
        detector = FaceDetector(config["model"], num_threads, tile_size=config["tile_size"])
        for size in sizes:
            frames = make_frames(faces, size, per_frame, seed)
            found_count, heights, seconds = 0, [], []
            stats = {m: dict(whole=0, loo=0, loo_n=0, answers={}) for m in landmark_methods}
            false_positives = 0
            for frame, placed in progress_bar(frames, desc=f"{config['name']} {size}px", unit="frame"):
                start = time.perf_counter()
                dets = detector.detect(frame)
                seconds.append(time.perf_counter() - start)
                found = match_detections(dets, placed)
                false_positives += len(dets) - len(found)
                found_count += len(found)
                for index, det in found.items():
                    heights.append(det.height)
                    relative, identity, _, _ = faces[index]
                    for method, finder in finders.items():
                        points = finder.find(frame, det)
                        crop, matrix = align(frame, points, embedder.preprocessing)
                        embedding = embedder.embed(crop[None])[0]
                        whole, loo, best = rank1(gallery, embedding, relative, identity)
                        s = stats[method]
                        s["whole"] += whole
                        if loo is not None:
                            s["loo"] += loo
                            s["loo_n"] += 1
                        name = gallery.names[int(np.argmax(gallery.embeddings @ embedding))]
                        answer = decisions.decide(decisions.face_px(matrix), name, best, decisions.DEFAULT_THRESHOLDS).answer
                        kind = answer if answer in (decisions.UNKNOWN, decisions.TOO_SMALL) else (
                            "right name" if answer == identity else "wrong name")
                        s["answers"][kind] = s["answers"].get(kind, 0) + 1
            total = sum(len(p) for _, p in frames)
            row = dict(detector=config["name"], size_px=size, faces=total, found=found_count,
                       recall=found_count / total, false_positives=false_positives, frames=len(frames),
                       detected_box_height_median=float(np.median(heights)) if heights else None,
                       detect_ms_per_frame_median=1000 * statistics.median(seconds), identification={})
            for method, s in stats.items():
                row["identification"][method] = dict(
                    rank1=s["whole"] / found_count if found_count else None,
                    rank1_leave_one_out=s["loo"] / s["loo_n"] if s["loo_n"] else None, leave_one_out_faces=s["loo_n"],
                    end_to_end=s["whole"] / total, default_table_answers=s["answers"])
            rows.append(row)
            ident = row["identification"][landmark_methods[0]]
            print(f"{config['name']:>14} {size:3d} px: recall {row['recall']:.3f}, rank-1 "
                  f"{ident['rank1'] if ident['rank1'] is not None else float('nan'):.3f}", flush=True)
    return rows


def percentiles(values):
    ms = np.array(values) * 1000
    return dict(median=float(np.median(ms)), p90=float(np.percentile(ms, 90)), n=int(len(ms)))


def measure_latency(faces, model, configs, threads, frames_count, per_frame, seed, gallery, landmark_method):
    """Per-stage latency of EdgePipeline.identify on 640x480 frames of 32 px faces."""
    from lrfr_tf.edge.edge_pipeline import EdgePipeline

    frames = make_frames(faces, 32, per_frame, seed + 1)
    frames = (frames * (frames_count // len(frames) + 1))[:frames_count]
    out = []
    for n in threads:
        for config in configs:
            pipeline = EdgePipeline(model, config["model"], landmark_method, n, tile_size=config["tile_size"])
            for frame, _ in frames[:3]:  # warm-up
                pipeline.identify(frame, gallery)
            pipeline.timer.seconds.clear()
            face_counts, frame_seconds = [], []
            for frame, _ in progress_bar(frames, desc=f"latency {config['name']} x{n}", unit="frame"):
                start = time.perf_counter()
                face_counts.append(len(pipeline.identify(frame, gallery)))
                frame_seconds.append(time.perf_counter() - start)
            t = pipeline.timer.seconds
            faces_per_call = [c for c in face_counts if c]
            row = dict(detector=config["name"], threads=n, frames=len(frames), faces=int(sum(face_counts)),
                       frame_total=percentiles(frame_seconds), detect_per_frame=percentiles(t["detect"]),
                       landmarks_per_face=percentiles(t["landmarks"]), align_per_face=percentiles(t["align"]),
                       embed_per_face=percentiles(np.array(t["embed"]) / np.array(faces_per_call)),
                       match_per_face=percentiles(np.array(t["match"][:len(faces_per_call)]) / np.array(faces_per_call)))
            out.append(row)
    return out


def parse_detector(text: str) -> dict:
    """"full+tiles192" -> {name, model "full", tile_size 192}."""
    model, _, tiles = text.partition("+tiles")
    if model not in ("short", "full") or (tiles and not tiles.isdigit()):
        raise SystemExit(f"--detectors: {text!r} is not short|full[+tilesN]")
    return dict(name=text, model=model, tile_size=int(tiles or 0))


def print_table(doc):
    methods = doc["meta"]["landmark_methods"]
    print("\nsmall faces in 640x480 frames (LFW raw250, 198 faces per size)")
    head = f"{'detector':>14} {'face px':>7} {'box px':>6} {'recall':>7} {'false+':>6}"
    for m in methods:
        head += f" {'rank-1 ' + m:>15} {'LOO ' + m:>13} {'end2end':>8}"
    print(head)
    for r in doc["rows"]:
        line = (f"{r['detector']:>14} {r['size_px']:>7} {r['detected_box_height_median'] or float('nan'):>6.1f} "
                f"{r['recall']:>7.3f} {r['false_positives']:>6}")
        for m in methods:
            i = r["identification"][m]
            line += (f" {i['rank1'] if i['rank1'] is not None else float('nan'):>15.3f}"
                     f" {i['rank1_leave_one_out'] if i['rank1_leave_one_out'] is not None else float('nan'):>13.3f}"
                     f" {i['end_to_end']:>8.3f}")
        print(line)
    print("\nlatency at 640x480, ms median (p90)")
    print(f"{'detector':>14} {'threads':>7} {'detect/frame':>14} {'landmarks/face':>15} {'align/face':>11} "
          f"{'embed/face':>11} {'match/face':>11} {'frame total':>13}")
    for r in doc["latency"]:
        cell = lambda k: f"{r[k]['median']:.2f} ({r[k]['p90']:.2f})"  # noqa: E731
        print(f"{r['detector']:>14} {r['threads']:>7} {cell('detect_per_frame'):>14} {cell('landmarks_per_face'):>15} "
              f"{cell('align_per_face'):>11} {cell('embed_per_face'):>11} {cell('match_per_face'):>11} "
              f"{cell('frame_total'):>13}")


def plot(doc, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    method = doc["meta"]["landmark_methods"][0]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for name in dict.fromkeys(r["detector"] for r in doc["rows"]):
        rows = [r for r in doc["rows"] if r["detector"] == name]
        sizes = [r["size_px"] for r in rows]
        axes[0].plot(sizes, [r["recall"] for r in rows], "o-", label=name)
        axes[1].plot(sizes, [r["identification"][method]["end_to_end"] for r in rows], "o-", label=name)
    axes[0].set(title="detection recall", xlabel="face size (px, aligned-template side)", ylim=(0, 1.02))
    axes[1].set(title=f"found and identified (rank-1, {method} landmarks)", xlabel="face size (px)", ylim=(0, 1.02))
    for ax in axes[:2]:
        ax.grid(alpha=0.3)
        ax.legend()
    stages = ("detect_per_frame", "landmarks_per_face", "align_per_face", "embed_per_face", "match_per_face")
    labels = [f"{r['detector']}\nx{r['threads']}" for r in doc["latency"]]
    bottom = np.zeros(len(labels))
    for stage in stages:
        values = np.array([r[stage]["median"] for r in doc["latency"]])
        axes[2].bar(labels, values, bottom=bottom, label=stage.replace("_", " "))
        bottom += values
    axes[2].set(title="latency, ms median (detect per frame, the rest per face)", ylabel="ms")
    axes[2].legend(fontsize=7)
    axes[2].tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(doc: dict, out: str, write_json: bool = True) -> int:
    """The JSON (unless ``write_json`` is False), the table on stdout and the PNG beside the JSON."""
    if write_json:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(doc, indent=1) + "\n")
    print_table(doc)
    plot(doc, os.path.splitext(out)[0] + ".png")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lfw", default=str(SHARED / "lfw"), help="LFW folder with raw250/ and landmarks_250px.tsv.")
    p.add_argument("--model", default=str(SHARED / "models/mobilefacenet/MobileFaceNet.tflite"))
    p.add_argument("--out", default=str(REPO / "results/edge/small_faces.json"), help="JSON; the PNG goes beside it.")
    p.add_argument("--sizes", default="12,16,24,32,48", help="Face sizes, px.")
    p.add_argument("--detectors", default="short,full,full+tiles192,full+tiles128",
                   help="Detector configurations: short|full, optionally +tilesN (tiles of N frame px).")
    p.add_argument("--faces_per_frame", type=int, default=4)
    p.add_argument("--landmarks", default="mesh,keypoints", help="Landmark methods to identify with.")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--latency_frames", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--examples", default=str(REPO / "results/edge/frames"),
                   help="Write example frames (16, 24 and 48 px faces) here ('' to skip).")
    p.add_argument("--quick", action="store_true", help="Smoke run: 24 faces, sizes 16 and 48, 6 latency frames.")
    p.add_argument("--plot_only", action="store_true")
    p.add_argument("--latency_only", action="store_true", help="Measure the latency again into the existing --out "
                   "(e.g. on a quieter machine); the accuracy rows are kept.")
    args = p.parse_args(argv)
    if args.plot_only:
        return write_report(json.loads(Path(args.out).read_text()), args.out, write_json=False)
    started = time.time()
    sizes = [16, 48] if args.quick else [int(s) for s in args.sizes.split(",")]
    methods = [m for m in args.landmarks.split(",") if m]
    threads = [int(t) for t in args.threads.split(",")]
    configs = [parse_detector(c) for c in args.detectors.split(",") if c]
    faces = load_faces(Path(args.lfw))
    if args.quick:
        faces = faces[::8]
    embedder = TFLiteEmbedder(args.model, num_threads=1)
    gallery = enroll_gallery(faces, embedder, FaceDetector("full"), LandmarkFinder("mesh"))
    if args.latency_only:
        doc = json.loads(Path(args.out).read_text())
        load = os.getloadavg()
        doc["latency"] = measure_latency(faces, args.model, [parse_detector(c["name"]) for c in doc["meta"]["detector_configs"]],
                                         threads, args.latency_frames, doc["meta"]["faces_per_frame"], doc["meta"]["seed"],
                                         gallery, doc["meta"]["landmark_methods"][0])
        doc["meta"]["latency_loadavg"] = [load, os.getloadavg()]
        return write_report(doc, args.out)
    from importlib.metadata import version

    meta = dict(started_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)), quick=args.quick,
                faces=len(faces), gallery_rows=len(gallery), gallery_identities=len(gallery.identities),
                sizes=sizes, faces_per_frame=args.faces_per_frame, seed=args.seed, landmark_methods=methods,
                detector_configs=configs, model=os.path.relpath(args.model, REPO) if args.model.startswith(str(REPO.parent)) else args.model,
                model_sha256=embedder.sha256, loadavg_start=os.getloadavg(), cpu_count=os.cpu_count(),
                platform=platform.platform(), python=platform.python_version(), numpy=np.__version__,
                opencv=cv2.__version__, ai_edge_litert=version("ai-edge-litert"),
                eye_match=EYE_MATCH, default_thresholds=[list(map(lambda v: v, (b.min_px, b.max_px, b.threshold)))
                                                          for b in decisions.DEFAULT_THRESHOLDS])
    rows = evaluate(faces, gallery, embedder, configs, sizes, args.faces_per_frame, args.seed, methods, 1)
    latency_frames = 6 if args.quick else args.latency_frames
    load = os.getloadavg()
    latency = measure_latency(faces, args.model, configs, threads, latency_frames, args.faces_per_frame, args.seed,
                              gallery, methods[0]) if latency_frames else []
    meta.update(loadavg_end=os.getloadavg(), wall_s=time.time() - started, latency_loadavg=[load, os.getloadavg()])
    doc = dict(meta=meta, rows=rows, latency=latency)
    write_report(doc, args.out)
    if args.examples and not args.quick:
        os.makedirs(args.examples, exist_ok=True)
        for size in (16, 24, 48):
            frame, _ = make_frames(faces, size, args.faces_per_frame, args.seed)[0]
            cv2.imwrite(os.path.join(args.examples, f"faces_{size}px.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 92])
    print(f"wrote {args.out} and its .png in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
