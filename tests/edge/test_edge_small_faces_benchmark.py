"""benchmarks/edge_small_faces.py's bookkeeping: pasted faces have the size asked for and their landmarks where the
pixels went, detections are matched to them by the eyes, rank-1 leaves the probe's own image out when asked."""

import numpy as np

from benchmarks import edge_small_faces as bench
from lrfr_tf.edge.alignment import TEMPLATE_112
from lrfr_tf.edge.detector import Detection
from lrfr_tf.edge.gallery import Gallery


def dotted_face(points):
    """A 250x250 grey image with a bright 3x3 dot on each landmark."""
    image = np.full((250, 250, 3), 60, np.uint8)
    for x, y in np.round(points).astype(int):
        image[y - 1:y + 2, x - 1:x + 2] = 255
    return image


def test_pasted_faces_have_the_size_and_landmarks_asked_for():
    points = TEMPLATE_112 * 1.2 + [60, 50]  # a 134 px face
    faces = [("a/a_1.jpg", "a", dotted_face(points), points), ("b/b_1.jpg", "b", dotted_face(points), points)]
    frames = bench.make_frames(faces, 32, per_frame=2, seed=3)
    assert len(frames) == 1
    frame, placed = frames[0]
    assert frame.shape == (480, 640, 3) and sorted(i for i, _ in placed) == [0, 1]
    for _, pasted in placed:
        assert abs(bench.face_px_of(pasted) - 32.0) < 0.5
        for x, y in pasted:  # the shrunk dot is brighter than the grey around it
            assert frame[int(round(y)), int(round(x))].mean() > 70
    again, _ = bench.make_frames(faces, 32, per_frame=2, seed=3)[0]
    np.testing.assert_array_equal(frame, again)  # seeded


def test_detections_match_faces_by_their_eyes():
    eyes = np.array([[100.0, 100.0], [110.0, 100.0], [105, 105], [105, 110], [100, 110], [110, 110]])
    truth = [(7, np.vstack([eyes[:2], eyes[2:5]]))]
    near = Detection(np.zeros(4), np.vstack([eyes[:2] + 2.0, eyes[2:]]), 0.9)  # 2 px off: 0.28 of 10 px, too far
    nearer = Detection(np.zeros(4), np.vstack([eyes[:2] + 1.0, eyes[2:]]), 0.8)
    assert bench.match_detections([near], truth) == {}
    assert bench.match_detections([near, nearer], truth) == {7: nearer}


def test_rank1_whole_gallery_and_leave_one_out():
    e = np.eye(3, dtype=np.float32)
    gallery = Gallery("x", 3, e, ["ann", "ann", "bob"], ["ann/1", "ann/2", "bob/1"])
    probe = (e[0] + 0.1 * e[2]) / np.linalg.norm(e[0] + 0.1 * e[2])
    whole, loo, best = bench.rank1(gallery, probe, "ann/1", "ann")
    assert whole and best > 0.99 and loo is not None and not loo  # without ann/1 the best row is bob's
    assert bench.rank1(gallery, e[2], "bob/1", "bob")[1] is None  # bob has no other image
