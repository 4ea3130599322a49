"""Issue 12, item 4: the runtime's own detection and alignment on the 198 raw 250x250 LFW images reproduces the
embeddings of the same images in lfw/aligned112 (made from MTCNN's five points) with the pretrained
MobileFaceNet: cosine >= 0.95 for at least 95% of the faces."""

import numpy as np
import pytest

from conftest import raw_files

from lrfr_tf.edge.inputs import read_image


def central_face(faces, width=250, height=250):
    """The detection nearest the image centre (LFW centres the named person; others may be in the picture)."""
    centre = np.array([width / 2, height / 2])
    return min(faces, key=lambda f: np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - centre)) if faces else None


@pytest.mark.parametrize("detector,landmarks,every", [
    ("full", "mesh", 5),  # the default suite: every 5th image (40), about 4 s
    pytest.param("full", "mesh", 1, marks=pytest.mark.slow),  # all 198
    pytest.param("short", "mesh", 1, marks=pytest.mark.slow),
])
def test_raw_images_reproduce_the_aligned_embeddings(lfw_dir, mobilefacenet_tflite, detector, landmarks, every):
    from lrfr_tf.edge.pipeline import EdgePipeline

    pipeline = EdgePipeline(str(mobilefacenet_tflite), detector=detector, landmarks=landmarks)
    files = raw_files(lfw_dir)
    assert len(files) == 198
    files = files[::every]
    cosines = []
    for name in files:
        face = central_face(pipeline.faces(read_image(str(lfw_dir / "raw250" / name))))
        if face is None:
            cosines.append(-1.0)  # a missed face counts as a failure
            continue
        reference = pipeline.embedder.embed(read_image(str(lfw_dir / "aligned112" / name))[None])[0]
        cosines.append(float(face.embedding @ reference))
    cosines = np.array(cosines)
    share = float(np.mean(cosines >= 0.95))
    print(f"\n{detector}/{landmarks}: cosine >= 0.95 for {share:.1%} of {len(files)} faces, median {np.median(cosines):.4f}")
    assert share >= 0.95, sorted(zip(cosines.round(3), files))[:10]
