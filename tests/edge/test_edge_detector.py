"""BlazeFace: anchors and decoding as MediaPipe's graphs specify, weighted NMS, letterbox and tile geometry, and
faces found on real LFW images where MTCNN put them."""

import numpy as np
import pytest

from lrfr_tf.edge.detector import (MODELS, Detection, FaceDetector, best_across_passes, decode, ssd_anchor_centres,
                                   tile_regions, weighted_nms)


def test_anchor_counts_match_the_models_outputs():
    short = ssd_anchor_centres(128, MODELS["short"].strides, 1.0)
    full = ssd_anchor_centres(192, MODELS["full"].strides, 0.0)
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    # short range: 16x16 cells x 2 anchors at stride 8, then 8x8 cells x 6 anchors (3 layers of stride 16)
    np.testing.assert_allclose(short[0], short[1])
    np.testing.assert_allclose(short[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(short[2], [1.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(short[512:518], np.tile([[0.5 / 8, 0.5 / 8]], (6, 1)))
    np.testing.assert_allclose(full[:2], [[0.5 / 48, 0.5 / 48], [1.5 / 48, 0.5 / 48]])
    np.testing.assert_allclose(full[-1], [47.5 / 48, 47.5 / 48])


def test_decode_applies_offsets_in_input_pixels_and_the_score_threshold():
    anchors = np.array([[0.25, 0.5], [0.75, 0.5]], np.float32)
    raw = np.zeros((2, 16), np.float32)
    raw[0, :4] = [12.8, -12.8, 25.6, 51.2]  # centre +0.1, -0.1 of a 128 px input; size 0.2 x 0.4
    raw[0, 4:6] = [6.4, 0.0]  # first keypoint 0.05 right of the anchor
    logits = np.array([[2.0], [-2.0]], np.float32)
    boxes, keypoints, scores = decode(raw, logits, anchors, 128, 0.5)
    assert len(scores) == 1
    np.testing.assert_allclose(boxes[0], [0.25, 0.2, 0.45, 0.6], atol=1e-6)
    np.testing.assert_allclose(keypoints[0, 0], [0.3, 0.5], atol=1e-6)
    np.testing.assert_allclose(keypoints[0, 1], [0.25, 0.5], atol=1e-6)
    np.testing.assert_allclose(scores[0], 1 / (1 + np.exp(-2.0)), rtol=1e-6)
    _, _, clipped = decode(raw, np.array([[1e6], [-1e6]], np.float32), anchors, 128, 0.0)  # logits clipped at +-100
    np.testing.assert_allclose(clipped, [1.0, 1 / (1 + np.exp(100.0))])


def test_weighted_nms_blends_overlapping_faces_and_keeps_separate_ones():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    keypoints = np.stack([np.full((6, 2), v, np.float32) for v in (0.0, 3.0, 55.0)])
    scores = np.array([0.6, 0.9, 0.7], np.float32)
    faces = weighted_nms(boxes, keypoints, scores)
    assert [round(f.score, 3) for f in faces] == [0.9, 0.7]
    np.testing.assert_allclose(faces[0].box, (0.9 * boxes[1] + 0.6 * boxes[0]) / 1.5, rtol=1e-6)
    np.testing.assert_allclose(faces[0].keypoints, np.full((6, 2), 0.9 * 3 / 1.5), rtol=1e-6)
    np.testing.assert_allclose(faces[1].box, boxes[2])


def test_across_passes_the_most_magnified_view_wins_whole():
    def face(x, score):
        return Detection(np.array([x, 0, x + 10, 10], np.float32), np.full((6, 2), x, np.float32), score)

    whole = [face(0, 0.95), face(100, 0.7)]  # 0.3x: the frame letterboxed
    tile = [face(1, 0.8), face(300, 0.65)]  # 1x: a tile; its view of the first face wins despite the lower score
    kept = best_across_passes([(0.3, whole), (1.0, tile)])
    assert [(float(f.box[0]), f.score) for f in kept] == [(1.0, 0.8), (100.0, 0.7), (300.0, 0.65)]
    assert best_across_passes([(1.0, [face(0, 0.6), face(2, 0.9)])])[0].score == 0.9
    assert best_across_passes([]) == []


@pytest.mark.parametrize("width,height,tile,overlap", [(640, 480, 192, 48), (640, 480, 160, 40), (1920, 1080, 256, 64)])
def test_tiles_cover_the_frame_with_the_overlap(width, height, tile, overlap):
    tiles = tile_regions(width, height, tile, overlap)
    xs, ys = sorted({t[0] for t in tiles}), sorted({t[1] for t in tiles})
    assert xs[0] == 0 and xs[-1] + tile == width and ys[0] == 0 and ys[-1] + tile == height
    assert all(b - a <= tile - overlap for a, b in zip(xs, xs[1:])) and all(b - a <= tile - overlap for a, b in zip(ys, ys[1:]))
    assert tile_regions(width, height, 0, overlap) == [] and tile_regions(100, 100, 128, 10) == []


def test_blank_image_has_no_face():
    assert FaceDetector("short").detect(np.zeros((480, 640, 3), np.uint8)) == []


@pytest.mark.parametrize("model", ["short", "full"])
def test_faces_are_found_where_mtcnn_found_them(model, raw_image, landmarks_250):
    detector = FaceDetector(model)
    errors = []
    for name in ("Aaron_Guiel/Aaron_Guiel_0001.jpg", "Adriana_Lima/Adriana_Lima_0001.jpg", "Alan_Greenspan/Alan_Greenspan_0001.jpg"):
        image, truth = raw_image(name), landmarks_250[name]
        faces = detector.detect(image)
        assert faces, name
        face = min(faces, key=lambda f: np.linalg.norm(f.keypoints[0] - truth[0]))
        eye_distance = np.linalg.norm(truth[1] - truth[0])
        errors.append(np.linalg.norm(face.keypoints[:2] - truth[:2], axis=1).max() / eye_distance)
        assert face.box[0] < truth[:, 0].min() and face.box[2] > truth[:, 0].max()
        assert face.box[1] < truth[:, 1].min() and face.box[3] > truth[:, 1].max()
    assert max(errors) < 0.2, errors


def test_letterbox_and_tiles_map_back_to_frame_pixels(raw_image):
    """The same face found in a 250x250 image, pasted into a 640x480 frame (letterboxed) and seen by tiles, has
    the same keypoints shifted by the paste offset."""
    image = raw_image("Aaron_Guiel/Aaron_Guiel_0001.jpg")
    reference = FaceDetector("full").detect(image)[0]
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[200:450, 330:580] = image
    for tile_size in (0, 256):
        faces = FaceDetector("full", tile_size=tile_size).detect(frame)
        face = min(faces, key=lambda f: np.linalg.norm(f.keypoints[0] - reference.keypoints[0] - [330, 200]))
        np.testing.assert_allclose(face.keypoints[:3], reference.keypoints[:3] + [330, 200], atol=6)
