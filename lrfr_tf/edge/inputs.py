"""What the edge command lines read: image files (any channel layout, as RGB uint8), folders and videos."""

from __future__ import annotations

import os
from typing import Dict, Iterator, List, Tuple

import cv2
import numpy as np

from lrfr_tf.data.folders import IdentityFolder
from lrfr_tf.data.images import IMAGE_EXTENSIONS, load_image

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


def is_video(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


def read_image(path: str) -> np.ndarray:
    """An image file as RGB uint8 [H, W, 3], with lrfr_tf's one OpenCV reader (``lrfr_tf.data.images.load_image``,
    TF-free): grayscale replicated, 16 bit reduced to 8, an alpha channel dropped; ValueError naming the file
    when it is truncated, corrupt, not JPEG/PNG or declares more than 50 megapixels."""
    return load_image(path, alpha="drop")


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
    """(identity, its image files) for each folder of ``root`` holding images (``lrfr_tf.data.folders``' reading
    of the identity-per-folder layout; empty folders are skipped)."""
    try:
        folder = IdentityFolder(root, empty="skip")
    except (FileNotFoundError, ValueError) as e:
        raise type(e)(f"{what}: {e}") from None
    people: Dict[str, List[str]] = {}
    for path, label in zip(folder.paths, folder.labels):
        people.setdefault(folder.class_names[label], []).append(path)
    return list(people.items())


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
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                ok, frame = capture.read()
                if not ok:
                    break
        finally:
            capture.release()

    return count, frames()
