"""Similarity-transform face alignment onto the ArcFace 112x112 five-point template.

The transform is Umeyama's closed-form least-squares similarity (Umeyama 1991, "Least-squares estimation of
transformation parameters between two point patterns", IEEE TPAMI 13(4), eq. 40-42): for source points x_i and
destination points y_i with means mu_x, mu_y, variance sigma_x^2 of the source and covariance
Sigma_xy = 1/n sum (y_i - mu_y)(x_i - mu_x)^T = U D V^T,

    R = U S V^T,   c = tr(D S) / sigma_x^2,   t = mu_y - c R mu_x,

with S = diag(1, det(U) det(V)) so that R is a rotation, never a reflection. insightface's ``norm_crop``
(skimage's ``SimilarityTransform.estimate``) computes the same transform, which is how the aligned LFW faces the
models are evaluated on were made.

The aligned face is written straight at the model's input geometry: the template is moved by the
``Preprocessing`` centre crop and scaled to its ``size`` (``template_for``), so one ``cv2.warpAffine`` does
alignment, crop and resize. Pixels from outside the frame repeat the border (a face at the image edge aligns,
with smeared rather than black padding) unless ``border="constant"``.
"""

from __future__ import annotations

import cv2
import numpy as np

from lrfr_tf.preprocessing import ARCFACE_TEMPLATE_112, Preprocessing

TEMPLATE_112 = np.asarray(ARCFACE_TEMPLATE_112, np.float64)
BORDERS = {"replicate": cv2.BORDER_REPLICATE, "constant": cv2.BORDER_CONSTANT}


def umeyama(source: np.ndarray, destination: np.ndarray) -> np.ndarray:
    """The 2x3 similarity matrix [c R | t] minimising sum |c R x_i + t - y_i|^2 (Umeyama 1991, eq. 40-42)."""
    x = np.asarray(source, np.float64)
    y = np.asarray(destination, np.float64)
    if x.shape != y.shape or x.ndim != 2 or x.shape[1] != 2 or x.shape[0] < 2:
        raise ValueError(f"umeyama: expected two [n >= 2, 2] point sets of one shape, got {x.shape} and {y.shape}")
    mu_x, mu_y = x.mean(0), y.mean(0)
    xc, yc = x - mu_x, y - mu_y
    var_x = (xc ** 2).sum() / len(x)
    if var_x <= 0:
        raise ValueError("umeyama: the source points coincide")
    u, d, vt = np.linalg.svd(yc.T @ xc / len(x))
    s = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rotation = u @ s @ vt
    c = np.trace(np.diag(d) @ s) / var_x
    t = mu_y - c * rotation @ mu_x
    return np.hstack([c * rotation, t[:, None]])


def template_for(preprocessing: Preprocessing) -> np.ndarray:
    """The five template points [5, 2] in pixels of the model input: ArcFace's 112x112 points scaled to
    ``aligned_size``, shifted by the centre crop and scaled from the crop to ``size``."""
    ah, aw = preprocessing.aligned_size
    points = TEMPLATE_112 * np.array([aw / 112.0, ah / 112.0])
    top, left, ch, cw = preprocessing.crop_box(ah, aw)
    h, w = preprocessing.size
    return (points - np.array([left, top])) * np.array([w / cw, h / ch])


def align(image: np.ndarray, landmarks: np.ndarray, preprocessing: Preprocessing, border: str = "replicate"):
    """(aligned face [h, w, C] at ``preprocessing.size``, 2x3 matrix from ``image`` pixels) for five landmarks
    [5, 2] (x, y) in template order: the eye on the image's left, the other eye, nose tip, left and right mouth
    corners. A face more than twice the template's size is first shrunk with ``INTER_AREA`` (area averaging), as
    bilinear warping alone would alias it."""
    if border not in BORDERS:
        raise ValueError(f"border={border!r}: expected one of {', '.join(BORDERS)}")
    matrix = umeyama(landmarks, template_for(preprocessing))
    h, w = preprocessing.size
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    source, to_source = image, np.eye(3)
    if scale < 0.5:
        source, to_source = _shrunk_region(image, matrix, (h, w), 2.0 * scale)
    warp = (np.vstack([matrix, [0, 0, 1]]) @ np.linalg.inv(to_source))[:2]
    face = cv2.warpAffine(source, warp, (w, h), flags=cv2.INTER_LINEAR, borderMode=BORDERS[border], borderValue=0)
    return face, matrix


def _shrunk_region(image: np.ndarray, matrix: np.ndarray, size, factor: float):
    """The part of ``image`` the aligned face comes from (plus a margin), shrunk by ``factor`` with area
    averaging, and the 3x3 map from image pixels to its pixels."""
    h, w = size
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64)
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))
    points = (corners @ inverse.T)[:, :2]
    x0, y0 = np.floor(points.min(0)).astype(int) - 2
    x1, y1 = np.ceil(points.max(0)).astype(int) + 2
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, image.shape[1]), min(y1, image.shape[0])
    if x1 <= x0 or y1 <= y0:  # the face lies outside the frame: nothing to shrink
        return image, np.eye(3)
    crop = image[y0:y1, x0:x1]
    out_w, out_h = max(1, int(round((x1 - x0) * factor))), max(1, int(round((y1 - y0) * factor)))
    shrunk = cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_AREA)
    gain_x, gain_y = out_w / (x1 - x0), out_h / (y1 - y0)
    to_source = np.array([[gain_x, 0, -x0 * gain_x + 0.5 * gain_x - 0.5],
                          [0, gain_y, -y0 * gain_y + 0.5 * gain_y - 0.5], [0, 0, 1]])
    return shrunk, to_source
