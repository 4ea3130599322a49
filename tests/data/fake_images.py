"""Small generated image files for the data-reader tests (good and deliberately broken)."""

import pathlib

import cv2
import numpy as np


def random_rgb(seed: int, size=(112, 112)) -> np.ndarray:
    """A smooth random RGB uint8 image (compresses like a photo, not like noise)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (size[0] // 8 + 1, size[1] // 8 + 1, 3), dtype=np.uint8)
    return cv2.resize(small, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)


def encode(image: np.ndarray, ext: str = ".jpg") -> bytes:
    """Encode an RGB / RGBA / gray uint8 (or uint16 PNG) image with OpenCV."""
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext == ".jpg" else []
    ok, buf = cv2.imencode(ext, image, params)
    assert ok
    return buf.tobytes()


def write(path, image: np.ndarray) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(image, path.suffix))
    return path


def make_identity_tree(root, counts, size=(112, 112), ext=".jpg", seed=0) -> pathlib.Path:
    """root/<name>/<name>_<i>.jpg with counts[name] images each."""
    root = pathlib.Path(root)
    k = seed
    for name, n in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            write(root / name / f"{name}_{i:04d}{ext}", random_rgb(k, size))
            k += 1
    return root


def corrupt_jpeg(path) -> pathlib.Path:
    """A JPEG whose scan data is overwritten with garbage (headers and end marker intact).

    OpenCV and TF both decode it with only a libjpeg warning ("Corrupt JPEG data")."""
    data = encode(random_rgb(1))
    start = data.find(b"\xff\xda") + 2 + int.from_bytes(data[data.find(b"\xff\xda") + 2 :][:2], "big")
    garbage = np.random.default_rng(0).integers(0, 256, len(data) - 2 - start, dtype=np.uint8).tobytes()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[:start] + garbage + data[-2:])
    return path


def damaged_header_jpeg(path) -> pathlib.Path:
    """A JPEG whose Huffman table segment is zeroed: OpenCV cannot decode it."""
    data = encode(random_rgb(1))
    i = data.find(b"\xff\xc4")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: i + 4] + b"\x00" * 20 + data[i + 24 :])
    return path


def truncated(path, image=None, keep: float = 0.6) -> pathlib.Path:
    """A valid JPEG/PNG cut after ``keep`` of its bytes (inside the image data)."""
    path = pathlib.Path(path)
    data = encode(random_rgb(1) if image is None else image, path.suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def rgba(seed: int = 2, size=(112, 112)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.dstack([random_rgb(seed, size), rng.integers(0, 256, size, dtype=np.uint8)])
