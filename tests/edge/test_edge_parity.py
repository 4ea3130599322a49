"""Issue 12, item 4: the runtime's own detection and alignment on the 198 raw 250x250 LFW images reproduces the
embeddings of the same images in lfw/aligned112 (made from MTCNN's five points) with the pretrained
MobileFaceNet: cosine >= 0.95 for at least 95% of the faces."""

import numpy as np
import pytest

from benchmarks.edge_small_faces import raw_files, read_mtcnn_landmarks
from lrfr_tf.edge.alignment import align
from lrfr_tf.edge.inputs import read_image
from lrfr_tf.edge.landmarks import LandmarkFinder


def central_face(faces, width=250, height=250):
    """The detection nearest the image centre (LFW centres the named person; others may be in the picture)."""
    centre = np.array([width / 2, height / 2])
    return min(faces, key=lambda f: np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - centre)) if faces else None


def parity_cosines(lfw_dir, pipeline, files, landmarks=None):
    """Cosine between the embedding of each raw image's central face, aligned on ``landmarks`` (a LandmarkFinder,
    "mtcnn" for the points of landmarks_250px.tsv, None for the pipeline's own), and that of its aligned112 twin;
    -1 for a missed face."""
    embedder, mtcnn = pipeline.embedder, read_mtcnn_landmarks(lfw_dir) if landmarks == "mtcnn" else None
    cosines = []
    for name in files:
        image = read_image(str(lfw_dir / "raw250" / name))
        reference = embedder.embed(read_image(str(lfw_dir / "aligned112" / name))[None])[0]
        if mtcnn is not None:
            points = mtcnn[name]
        else:
            detection = central_face(pipeline.detector.detect(image))
            if detection is None:
                cosines.append(-1.0)
                continue
            points = (landmarks or pipeline.landmarks).find(image, detection)
        crop, _ = align(image, points, embedder.preprocessing)
        cosines.append(float(embedder.embed(crop[None])[0] @ reference))
    return np.array(cosines)


@pytest.mark.parametrize("detector,every", [
    ("full", 5),  # the default suite: every 5th image (40), about 4 s
    pytest.param("full", 1, marks=pytest.mark.slow),  # all 198
    pytest.param("short", 1, marks=pytest.mark.slow),
])
def test_raw_images_reproduce_the_aligned_embeddings(lfw_dir, mobilefacenet_tflite, detector, every):
    from lrfr_tf.edge.edge_pipeline import EdgePipeline

    pipeline = EdgePipeline(str(mobilefacenet_tflite), detector=detector, landmarks="mesh")
    files = raw_files(lfw_dir)
    assert len(files) == 198
    files = files[::every]
    cosines = parity_cosines(lfw_dir, pipeline, files)
    share = float(np.mean(cosines >= 0.95))
    print(f"\n{detector}/mesh: cosine >= 0.95 for {share:.1%} of {len(files)} faces, median {np.median(cosines):.4f}")
    assert share >= 0.95, sorted(zip(cosines.round(3), files))[:10]


@pytest.mark.slow
def test_mesh_landmarks_beat_the_keypoint_approximation(lfw_dir, mobilefacenet_pipeline):
    """Why the face mesh is the default: BlazeFace's keypoints (mouth corners approximated) align worse; MTCNN's
    own points (how aligned112 was made) bound what any landmark finder can reach."""
    files = raw_files(lfw_dir)
    shares = {}
    for name, landmarks in (("mtcnn", "mtcnn"), ("mesh", None), ("keypoints", LandmarkFinder("keypoints"))):
        cosines = parity_cosines(lfw_dir, mobilefacenet_pipeline, files, landmarks)
        shares[name] = float(np.mean(cosines >= 0.95))
        print(f"\n{name}: cosine >= 0.95 for {shares[name]:.1%} of {len(files)} faces, median {np.median(cosines):.4f}")
    assert shares["mtcnn"] >= 0.99 and shares["mtcnn"] >= shares["mesh"] > shares["keypoints"] + 0.05, shares
