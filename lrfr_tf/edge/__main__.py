r"""The on-camera pipeline from the command line (LiteRT, NumPy and OpenCV; no TensorFlow).

  python -m lrfr_tf.edge enroll --model=M.tflite --images=DIR --out=gallery.npz [--aligned]
  python -m lrfr_tf.edge identify --model=M.tflite --gallery=gallery.npz --input=IMAGE|DIR|VIDEO [--json]

``enroll`` embeds the largest face of every image under DIR/<identity>/ (``--aligned``: the images are faces
already aligned to the ArcFace template, no detection) into a gallery file tied to the model.
``identify`` prints, per face: box, face size (inter-ocular distance, box height and the aligned face's
resolution ``face_px`` that picks the threshold), the answer (identity, "unknown" or "too small"), the best
similarity and the threshold used; ``--json`` prints one JSON object per image or video frame instead.
Exit 2 on a bad flag or file (one line naming it); an unreadable input in a folder is named, the others are
processed, and the run ends with exit 2 and the count of failures.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

from lrfr_tf import cli_logging

cli_logging.start_cli(__name__)

from absl import app, flags  # noqa: E402

from lrfr_tf.cli_errors import report  # noqa: E402

COMMANDS = ("enroll", "identify")
FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Embedding model: a .tflite file (an lrfr_tf export carries its input contract).")
flags.DEFINE_string("images", None, "enroll: folder of identity folders, DIR/<identity>/<image>.")
flags.DEFINE_bool("aligned", False, "enroll: the images are faces aligned to the ArcFace template (no detection).")
flags.DEFINE_string("out", None, "enroll: the gallery file to write (.npz).")
flags.DEFINE_string("gallery", None, "identify: a gallery written by enroll with the same model.")
flags.DEFINE_string("input", None, "identify: an image, a video or a folder of them.")
flags.DEFINE_bool("json", False, "identify: one JSON object per image or frame on stdout.")
flags.DEFINE_enum("detector", "full", ["short", "full"], "BlazeFace short range (128 px input) or full range (192).")
flags.DEFINE_enum("landmarks", "mesh", ["mesh", "keypoints"], "Five landmarks from the face mesh or the detector.")
flags.DEFINE_integer("tile_size", 192, "Also detect on overlapping square tiles of this many frame pixels (0: off; "
                     "128 finds 16 px faces at about 3x the cost, see README 'On the camera').")
flags.DEFINE_float("min_score", None, "Detector score threshold (default: MediaPipe's, 0.5 short / 0.6 full).")
flags.DEFINE_integer("num_threads", 1, "LiteRT threads per model.")
flags.DEFINE_string("preprocessing", None, "Input contract for a model without lrfr_tf metadata: 'arcface', "
                    "'sphereface_112x96', a JSON file or config.")

log = logging.getLogger("lrfr_tf.edge")


def main(argv):
    try:
        return run(argv)
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError, app.UsageError) as e:
        return report(e, 2, FLAGS.verbosity)


def run(argv):
    if len(argv) != 2 or argv[1] not in COMMANDS:
        raise app.UsageError(f"expected one command, {' or '.join(COMMANDS)}; got {argv[1:] or 'none'}")
    if not FLAGS.model:
        raise ValueError("--model: required (a .tflite embedder)")
    _quiet_opencv()
    if FLAGS.num_threads < 1:
        raise ValueError(f"--num_threads={FLAGS.num_threads}: expected >= 1")
    return enroll() if argv[1] == "enroll" else identify()


def _quiet_opencv():
    """OpenCV's decoders print their own warnings about a broken file; the error line naming it is ours."""
    import cv2

    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:  # an OpenCV build without the logging module
        pass


def _pipeline():
    from lrfr_tf.edge.edge_pipeline import EdgePipeline

    from lrfr_tf.zoo import resolve_model

    return EdgePipeline(resolve_model(FLAGS.model), FLAGS.detector, FLAGS.landmarks, FLAGS.num_threads, FLAGS.preprocessing,
                        FLAGS.tile_size, FLAGS.min_score)


def _check_output_file(path: str, flag: str) -> None:
    if os.path.isdir(path):
        raise ValueError(f"{flag}={path}: is a folder; expected a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise NotADirectoryError(f"{flag}={path}: the folder {os.path.dirname(path) or '.'} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise PermissionError(f"{flag}={path}: not writable")


def enroll() -> int:
    import numpy as np

    from lrfr_tf.edge.gallery import Gallery
    from lrfr_tf.edge.inputs import identity_folders, read_image

    if not FLAGS.images or not FLAGS.out:
        raise ValueError("enroll needs --images=DIR (identity folders) and --out=gallery.npz")
    if not FLAGS.out.endswith(".npz"):
        raise ValueError(f"--out={FLAGS.out}: a gallery file ends in .npz")
    _check_output_file(FLAGS.out, "--out")
    people = identity_folders(FLAGS.images)
    pipeline = _pipeline()
    embedder = pipeline.embedder
    names, sources, embeddings, failed, faceless = [], [], [], [], []
    jobs = [(name, path) for name, paths in people for path in paths]
    with cli_logging.progress_bar(jobs, desc="enroll", unit="image") as bar:
        for name, path in bar:
            try:
                image = read_image(path)
            except ValueError as e:
                failed.append(path)
                _say(f"error: {e}", sys.stderr)
                continue
            if FLAGS.aligned:
                embedding = embedder.embed(_aligned_input(image, embedder.preprocessing))[0]
            else:
                faces = pipeline.faces(image, _largest(pipeline.detector.detect(image)))
                if not faces:
                    faceless.append(path)
                    continue
                embedding = faces[0].embedding
            names.append(name)
            sources.append(path)
            embeddings.append(embedding)
    if faceless:
        log.warning("no face found in %d image(s), not enrolled: %s", len(faceless), ", ".join(faceless[:10]) +
                    (" ..." if len(faceless) > 10 else ""))
    if not names:
        raise ValueError(f"--images={FLAGS.images}: no face enrolled from {len(jobs)} image(s); gallery not written")
    gallery = Gallery(embedder.sha256, embedder.dim, np.stack(embeddings), names, sources)
    gallery.save(FLAGS.out)
    print(f"enrolled {len(names)} faces of {len(gallery.identities)} identities -> {FLAGS.out} "
          f"({len(faceless)} image(s) without a face, {len(failed)} unreadable)")
    if failed:
        print(f"error: {len(failed)} of {len(jobs)} image(s) could not be read: {', '.join(failed[:10])}", file=sys.stderr)
        return 2
    return 0


def _largest(detections):
    return sorted(detections, key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))[:1]


def _aligned_input(image, preprocessing):
    """An already aligned face (the whole template frame, any size) -> [1, h, w, 3] at the model's input, through
    the same warp as a detected face: its landmarks are the template's, scaled to the image."""
    from lrfr_tf.edge.alignment import TEMPLATE_112, align

    h, w = image.shape[:2]
    face, _ = align(image, TEMPLATE_112 * [w / 112.0, h / 112.0], preprocessing)
    return face[None]


def identify() -> int:
    from lrfr_tf.edge.gallery import load_gallery
    from lrfr_tf.edge.inputs import is_video, list_inputs

    if not FLAGS.gallery or not FLAGS.input:
        raise ValueError("identify needs --gallery=gallery.npz and --input=IMAGE|DIR|VIDEO")
    inputs = list_inputs(FLAGS.input)
    pipeline = _pipeline()
    gallery = load_gallery(FLAGS.gallery, pipeline.embedder.sha256, pipeline.embedder.dim)
    if len(gallery) == 0:
        log.warning("%s: the gallery is empty: every face is unknown", FLAGS.gallery)
    log.info("thresholds: %s (%s)", pipeline.thresholds_source,
             ", ".join(f"[{b.min_px:g}, {'inf' if b.max_px is None else f'{b.max_px:g}'}) px: "
                       f"{'too small' if b.threshold is None else b.threshold}" for b in pipeline.thresholds))
    failed, single = [], len(inputs) == 1
    frames = faces = 0
    start = time.perf_counter()
    videos = any(is_video(p) for p in inputs)  # a video draws its own bar (one bar at a time)
    for path in (inputs if single or videos else cli_logging.progress_bar(inputs, desc="identify", unit="image")):
        try:
            if is_video(path):
                n_frames, n_faces = _identify_video(pipeline, gallery, path)
            else:
                n_frames, n_faces = _identify_image(pipeline, gallery, path)
        except ValueError as e:
            if single:
                raise
            failed.append(path)
            _say(f"error: {e}", sys.stderr)
            continue
        frames, faces = frames + n_frames, faces + n_faces
    seconds = time.perf_counter() - start
    print(f"{len(inputs) - len(failed)} input(s), {frames} frame(s), {faces} face(s) in {seconds:.1f} s "
          f"({faces / max(seconds, 1e-9):.1f} faces/s)", file=sys.stderr)
    if failed:
        print(f"error: {len(failed)} of {len(inputs)} input(s) could not be read: {', '.join(failed[:10])}"
              + (" ..." if len(failed) > 10 else ""), file=sys.stderr)
        return 2
    return 0


def _identify_image(pipeline, gallery, path):
    from lrfr_tf.edge.inputs import read_image

    faces = pipeline.identify(read_image(path), gallery)
    _print_faces(path, None, faces)
    return 1, len(faces)


def _identify_video(pipeline, gallery, path):
    from lrfr_tf.edge.inputs import video_frames

    count, frames = video_frames(path)
    n_frames = n_faces = 0
    start = time.perf_counter()
    with cli_logging.progress_bar(frames, total=count or None, desc=os.path.basename(path), unit="frame") as bar:
        for index, frame in enumerate(bar):
            faces = pipeline.identify(frame, gallery)
            _print_faces(path, index, faces)
            n_frames, n_faces = n_frames + 1, n_faces + len(faces)
            bar.set_postfix_str(f"{n_faces / max(time.perf_counter() - start, 1e-9):.1f} faces/s", refresh=False)
    return n_frames, n_faces


def _say(line: str, stream=None) -> None:
    """A line on stdout (or ``stream``) that leaves an open progress bar intact."""
    from tqdm import tqdm

    tqdm.write(line, file=stream or sys.stdout)
    (stream or sys.stdout).flush()


def _print_faces(path, frame, faces):
    where = path if frame is None else f"{path}#{frame}"
    if FLAGS.json:
        record = {"input": path, **({} if frame is None else {"frame": frame}), "faces": [f.as_dict() for f in faces]}
        _say(json.dumps(record))
        return
    if not faces:
        _say(f"{where}: no face")
    for i, face in enumerate(faces):
        d = face.decision
        x0, y0, x1, y1 = face.box
        size = (f"inter-ocular {face.inter_ocular_px:.1f} px, box height {face.box_height_px:.1f} px, "
                f"face {face.face_px:.1f} px")
        if d.threshold is None:
            verdict = f"{d.answer} (no threshold for a {face.face_px:.0f} px face)"
        else:
            similarity = "no gallery entry" if d.similarity is None else f"similarity {d.similarity:.3f}"
            verdict = f"{d.answer} ({similarity}, threshold {d.threshold:.2f})"
        _say(f"{where} face {i}: box ({x0:.0f}, {y0:.0f}, {x1:.0f}, {y1:.0f}), {size}: {verdict}")


if __name__ == "__main__":
    app.run(main)
