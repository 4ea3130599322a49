"""What the edge command lines read: image files (any channel layout, as RGB uint8), folders and videos."""

from __future__ import annotations

import os
from typing import Iterator, List, Tuple

import cv2
import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm", ".pbm")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


def is_video(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """OpenCV's decoded BGR / BGRA / grayscale (+alpha) image, 8 or 16 bit -> RGB uint8 [H, W, 3]. Alpha is
    dropped (the colour channels are kept as stored)."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    channels = image.shape[2]
    if channels == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2RGB)
    if channels == 2:  # gray + alpha
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2RGB)
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_image(path: str) -> np.ndarray:
    """An image file as RGB uint8; ValueError naming it when it cannot be read or decoded."""
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e.strerror or e})") from None
    if data[:2].tobytes() == b"\xff\xd8" and b"\xff\xd9" not in data[-65536:].tobytes():
        raise ValueError(f"{path}: truncated JPEG (no end-of-image marker)")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None or image.size == 0:
        raise ValueError(f"{path}: not a decodable image (corrupt, truncated or an unknown format)")
    return as_rgb_uint8(image)


def list_images(folder: str) -> List[str]:
    """Image files under ``folder`` (recursively), sorted."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found += [os.path.join(root, f) for f in sorted(files) if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS]
    return found


def list_inputs(path: str, what: str = "--input") -> List[str]:
    """The files ``--input`` names: one image or video, or the images and videos under a folder."""
    if os.path.isdir(path):
        found = []
        for root, dirs, files in os.walk(path):
            dirs.sort()
            found += [os.path.join(root, f) for f in sorted(files)
                      if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS]
        if not found:
            raise ValueError(f"{what}={path}: no images or videos in the folder")
        return found
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what}={path}: no such file or folder")
    return [path]


def identity_folders(root: str, what: str = "--images") -> List[Tuple[str, List[str]]]:
    """(identity, its image files) for each sub-folder of ``root`` holding images."""
    if not os.path.isdir(root):
        raise NotADirectoryError(f"{what}={root}: not a folder of identity folders")
    people = []
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if os.path.isdir(folder):
            images = list_images(folder)
            if images:
                people.append((name, images))
    if not people:
        raise ValueError(f"{what}={root}: no identity folders with images (expected {root}/<identity>/<image>)")
    return people


def video_frames(path: str) -> Tuple[int, Iterator[np.ndarray]]:
    """(frame count as the container states it, 0 if unknown; RGB uint8 frames); ValueError naming the file
    when OpenCV cannot open it or it yields no frame."""
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        capture.release()
        raise ValueError(f"{path}: cannot open the video (corrupt or an unsupported codec)")
    ok, first = capture.read()
    if not ok or first is None:
        capture.release()
        raise ValueError(f"{path}: the video has no readable frame (corrupt or an unsupported codec)")
    count = max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0), 0)

    def frames():
        try:
            frame = first
            while frame is not None:
                yield as_rgb_uint8(frame)
                ok, frame = capture.read()
                if not ok:
                    break
        finally:
            capture.release()

    return count, frames()
