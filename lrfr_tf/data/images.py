"""Image files: header inspection, validation and decoding (NumPy/OpenCV and TF).

Two decoders produce the same pixels (JPEG with the accurate integer IDCT in
both): ``decode_image`` is a TF op for tf.data; ``load_image`` / ``load_images``
use OpenCV for evaluation sets held in memory. Both return RGB and apply the
same channel rules:

* grayscale (1 channel) is converted to RGB by replicating the channel;
* an alpha channel is an error by default (dropping it silently changes the
  image); ``alpha="drop"`` discards it, ``alpha="composite"`` composites the
  colour over black (``rgb * alpha / 255``);
* 16-bit PNGs are reduced to 8 bits (``x >> 8``, as ``tf.image.convert_image_dtype``).

Only JPEG and PNG are supported. ``inspect_image_bytes`` reads a file's header
(format, size, channels, alpha) and checks that it is complete (JPEG end-of-image
marker after the scan data, PNG ``IEND`` chunk) without decoding pixels, and
refuses images declaring more than ``max_pixels`` (default ``DEFAULT_MAX_PIXELS``,
50 megapixels) before anything is allocated: a decompression bomb (a 1 MB PNG
declaring 20000x20000) is rejected from its header.

Validation of many files (tf.data decode errors cannot name files):

* ``scan_images``: header-only, thread pool (about 1 s for 13k files). It does
  not see damage inside the compressed data (a corrupt PNG IDAT, zeroed JPEG
  scan bytes, a truncated JPEG with an end marker appended).
* ``check_images``: decodes every file fully with OpenCV in a pool of worker
  processes, each with its C-level stderr (fd 2) redirected, so that libjpeg
  and libpng *warnings* ("Corrupt JPEG data: premature end of data segment",
  which every decoder otherwise turns into silently wrong pixels) are errors
  naming the file. OpenCV and TF's decode_jpeg (accurate integer IDCT) give the
  same pixels, so a file that passes decodes in tf.data to the same image.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import dataclasses
import os
import pickle
import queue
import struct
import subprocess
import sys
import tempfile
import threading
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
ALPHA_MODES = ("error", "drop", "composite")
RESIZE_METHODS = ("area", "bicubic", "bilinear", "nearest")

SizeArg = Optional[Union[int, Sequence[int]]]

#: Largest image (height x width) read by default: a 112x112 face is 12,544 pixels, a 24 MP photo 24e6.
DEFAULT_MAX_PIXELS = 50_000_000

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, extended, progressive, lossless; Huffman and arithmetic).
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # colour type -> stored channels (palette expands to RGB)
# Segments that may sit between the scans of a (progressive) JPEG: DHT, DAC, SOS, DQT, DNL, DRI, APPn, COM.
_JPEG_BETWEEN_SCANS = {0xC4, 0xCC, 0xDA, 0xDB, 0xDC, 0xDD, 0xFE} | set(range(0xE0, 0xF0))


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """What an image file's header says, read without decoding pixels."""

    format: str  # "jpeg" or "png"
    height: int
    width: int
    channels: int  # channels stored: 1 gray, 2 gray+alpha, 3 colour, 4 colour+alpha
    has_alpha: bool  # alpha channel, or a PNG tRNS transparency chunk


def check_alpha_mode(alpha: str) -> None:
    if alpha not in ALPHA_MODES:
        raise ValueError(f"alpha must be one of {ALPHA_MODES}, got {alpha!r}")


def size_hw(size: SizeArg) -> Optional[Tuple[int, int]]:
    """None, an int or (height, width) -> None or (height, width)."""
    if size is None:
        return None
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = (int(s) for s in size)
    return h, w


def _inspect_jpeg(data: bytes, source: str) -> ImageInfo:
    n = len(data)
    pos = 2
    frame = None
    component_ids = set()
    progressive = False
    while True:
        if pos + 1 >= n:
            raise ValueError(f"{source}: truncated JPEG (file ends inside the header, {n} bytes)")
        if data[pos] != 0xFF:
            raise ValueError(f"{source}: corrupt JPEG (expected a marker at byte {pos}, found 0x{data[pos]:02x})")
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            raise ValueError(f"{source}: truncated JPEG (file ends inside the header)")
        marker = data[pos]
        pos += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # standalone markers
            continue
        if marker == 0xD9:
            raise ValueError(f"{source}: corrupt JPEG (end-of-image marker before any image data)")
        if pos + 2 > n:
            raise ValueError(f"{source}: truncated JPEG (file ends inside the header)")
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2 or pos + length > n:
            raise ValueError(f"{source}: corrupt or truncated JPEG (segment 0xFF{marker:02X} runs past the end of the file)")
        if marker in _JPEG_SOF:
            if length < 8:
                raise ValueError(f"{source}: corrupt JPEG (short frame header)")
            precision = data[pos + 2]
            height, width = struct.unpack(">HH", data[pos + 3 : pos + 7])
            components = data[pos + 7]
            frame = (precision, height, width, components)
            progressive = marker in (0xC2, 0xC6, 0xCA, 0xCE)
            if length >= 8 + 3 * components:
                component_ids = {data[pos + 8 + 3 * c] for c in range(components)}
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        pos += length
    if frame is None:
        raise ValueError(f"{source}: corrupt JPEG (no frame header before the scan data)")
    precision, height, width, components = frame
    # Inside entropy-coded data 0xFF is byte-stuffed (FF00) and only RSTn markers
    # may appear, so an FFD9 after the first scan header is the end-of-image marker.
    end = data.rfind(b"\xff\xd9", pos)
    if end < 0:
        raise ValueError(f"{source}: truncated JPEG (no end-of-image marker after the image data; {n} bytes)")
    scans = [pos - 2] + _check_entropy_data(data, pos + length, end, source)
    _check_scan_coverage(data, scans, component_ids, progressive, source)
    if precision != 8:
        raise ValueError(f"{source}: unsupported {precision}-bit JPEG (only 8-bit is supported)")
    if components not in (1, 3):
        kind = "CMYK/YCCK" if components == 4 else f"{components}-component"
        raise ValueError(f"{source}: unsupported {kind} JPEG (only grayscale and colour are supported)")
    if height == 0 or width == 0:
        raise ValueError(f"{source}: corrupt JPEG (frame size {height}x{width})")
    return ImageInfo("jpeg", height, width, components, False)


def _check_entropy_data(data: bytes, start: int, end: int, source: str) -> List[int]:
    """Every 0xFF in scan data must be a stuffed FF00, a fill byte, an RSTn marker or a
    segment allowed between scans. Decoders only warn about anything else ("Corrupt
    JPEG data") and return damaged pixels, so it is an error here. Returns the positions
    of the later start-of-scan markers (progressive JPEGs)."""
    scans = []
    i = data.find(b"\xff", start, end)
    while i >= 0:
        nxt = data[i + 1]
        if nxt == 0x00 or nxt == 0xFF or 0xD0 <= nxt <= 0xD7:
            i = data.find(b"\xff", i + 1 + (nxt != 0xFF), end)
        elif nxt in _JPEG_BETWEEN_SCANS and i + 4 <= end:
            (length,) = struct.unpack(">H", data[i + 2 : i + 4])
            if nxt == 0xDA:
                scans.append(i)
            i = data.find(b"\xff", i + 2 + length, end)
        else:
            raise ValueError(f"{source}: corrupt JPEG (invalid marker 0xFF{nxt:02X} inside the image data at byte {i})")
    return scans


def _check_scan_coverage(data: bytes, scans: List[int], component_ids: set, progressive: bool, source: str) -> None:
    """Every coefficient (0..63) of every component must be sent to its last bit (Al = 0) by
    some scan (sequential JPEGs: every component in some scan). A progressive JPEG cut
    between scans (then an end marker appended) decodes without any warning, to blurry
    pixels that differ between decoders."""
    missing = {c: set(range(64)) for c in component_ids}
    for at in scans:
        if at + 5 > len(data):
            continue
        count = data[at + 4]
        spec = at + 5 + 2 * count
        if spec + 3 > len(data):
            raise ValueError(f"{source}: corrupt JPEG (scan header at byte {at} runs past the end of the file)")
        ss, se, al = data[spec], data[spec + 1], data[spec + 2] & 0x0F
        if not progressive:
            ss, se, al = 0, 63, 0
        if al == 0:
            for k in range(count):
                cid = data[at + 5 + 2 * k]
                if cid in missing:
                    missing[cid] -= set(range(ss, min(se, 63) + 1))
    incomplete = sorted(c for c, m in missing.items() if m)
    if incomplete:
        raise ValueError(f"{source}: truncated JPEG (the scans end before component(s) {incomplete} are complete: "
                         f"a progressive file cut between scans)")


def _inspect_png(data: bytes, source: str) -> ImageInfo:
    n = len(data)
    if n < 33 or data[12:16] != b"IHDR":
        raise ValueError(f"{source}: corrupt PNG (missing IHDR header)")
    width, height, bit_depth, colour_type = struct.unpack(">IIBB", data[16:26])
    if colour_type not in _PNG_CHANNELS:
        raise ValueError(f"{source}: corrupt PNG (invalid colour type {colour_type})")
    channels = _PNG_CHANNELS[colour_type]
    has_alpha = colour_type in (4, 6)
    pos = 8
    while True:
        if pos + 12 > n:
            raise ValueError(f"{source}: truncated PNG (no IEND chunk; {n} bytes)")
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        kind = data[pos + 4 : pos + 8]
        if pos + 12 + length > n:
            raise ValueError(f"{source}: truncated PNG (chunk {kind!r} runs past the end of the file)")
        if kind == b"tRNS":
            has_alpha = True
        if kind == b"IEND":
            break
        pos += 12 + length
    if height == 0 or width == 0:
        raise ValueError(f"{source}: corrupt PNG (size {height}x{width})")
    if bit_depth not in (1, 2, 4, 8, 16):
        raise ValueError(f"{source}: corrupt PNG (bit depth {bit_depth})")
    return ImageInfo("png", height, width, channels, has_alpha)


def check_pixel_limit(info: ImageInfo, source: str, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> None:
    """Raise ValueError naming ``source`` if the header declares more than ``max_pixels`` (None: no limit)."""
    if max_pixels is not None and info.height * info.width > max_pixels:
        raise ValueError(
            f"{source}: {info.format.upper()} declares {info.width}x{info.height} (WxH) = "
            f"{info.height * info.width:,} pixels, over the limit of {int(max_pixels):,} "
            f"(a decompression bomb or a huge photo; raise max_pixels to accept it)"
        )


def inspect_image_bytes(data: bytes, source: str = "<bytes>", max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Parse a JPEG/PNG header and check the file is complete, without decoding.

    Raises ValueError naming ``source`` for an unknown format, a corrupt header,
    a truncated file, an unsupported variant (CMYK, 12-bit JPEG) or a declared
    size over ``max_pixels`` (height x width; None: no limit).
    """
    data = bytes(data) if not isinstance(data, bytes) else data
    if len(data) == 0:
        raise ValueError(f"{source}: empty file")
    if data[:3] == b"\xff\xd8\xff":
        info = _inspect_jpeg(data, source)
    elif data[:8] == _PNG_SIGNATURE:
        info = _inspect_png(data, source)
    else:
        raise ValueError(f"{source}: not a JPEG or PNG image (starts with {data[:8]!r})")
    check_pixel_limit(info, source, max_pixels)
    return info


def read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such image file") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"{path}: is a directory, not an image file") from None


def inspect_image(path: str, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """``inspect_image_bytes`` of a file (FileNotFoundError naming a missing file)."""
    return inspect_image_bytes(read_file(path), path, max_pixels)


def check_image_info(info: ImageInfo, source: str, size: SizeArg = None, alpha: str = "error") -> None:
    """Raise ValueError naming ``source`` if the image has alpha (with alpha="error") or
    is not ``size`` (an int or (height, width); None accepts any size)."""
    check_alpha_mode(alpha)
    if info.has_alpha and alpha == "error":
        raise ValueError(
            f"{source}: image has an alpha channel; dropping it would silently change the image "
            f"(pass alpha='drop' or alpha='composite' to accept it)"
        )
    hw = size_hw(size)
    if hw is not None and (info.height, info.width) != hw:
        raise ValueError(
            f"{source}: image is {info.height}x{info.width} (HxW), expected {hw[0]}x{hw[1]} "
            f"(pass a resize method to resize it)"
        )


def _to_rgb(image: np.ndarray, alpha: str, source: str) -> np.ndarray:
    """OpenCV IMREAD_UNCHANGED output (gray / BGR / BGRA, 8 or 16 bit) -> uint8 RGB."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"{source}: unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    channels = image.shape[2]
    if channels in (2, 4):
        if alpha == "error":
            raise ValueError(f"{source}: image has an alpha channel (pass alpha='drop' or alpha='composite')")
        colour, a = image[:, :, :-1], image[:, :, -1:]
        if alpha == "composite":
            colour = np.round(colour.astype(np.float32) * (a.astype(np.float32) / 255.0)).astype(np.uint8)
        image = colour
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image[:, :, ::-1])  # BGR -> RGB


def decode_bytes(data: bytes, source: str = "<bytes>", alpha: str = "error",
                 max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Encoded JPEG/PNG bytes -> uint8 RGB [H, W, 3] (OpenCV); errors name ``source``.

    The header is checked first (``inspect_image_bytes``), so an image declaring
    more than ``max_pixels`` is refused before OpenCV allocates anything.
    """
    import cv2

    check_alpha_mode(alpha)
    info = inspect_image_bytes(data, source, max_pixels)
    check_image_info(info, source, alpha=alpha)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"{source}: corrupt {info.format.upper()} (cannot be decoded)")
    if image.shape[:2] != (info.height, info.width):
        raise ValueError(f"{source}: corrupt image (decoded {image.shape[:2]}, header says {info.height}x{info.width})")
    return _to_rgb(image, alpha, source)


def fit_size(image: np.ndarray, size: SizeArg, resize: Optional[str], source: str) -> np.ndarray:
    """Check ``image`` is ``size`` or, when a ``resize`` method is given, resize it (OpenCV)."""
    hw = size_hw(size)
    if hw is None or image.shape[:2] == hw:
        return image
    if resize is None:
        raise ValueError(
            f"{source}: image is {image.shape[0]}x{image.shape[1]} (HxW), expected {hw[0]}x{hw[1]} "
            f"(pass a resize method to resize it)"
        )
    import cv2

    flags = {"area": cv2.INTER_AREA, "bicubic": cv2.INTER_CUBIC, "bilinear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}
    if resize not in flags:
        raise ValueError(f"resize must be one of {RESIZE_METHODS} or None, got {resize!r}")
    return cv2.resize(image, (hw[1], hw[0]), interpolation=flags[resize])


def load_image(path: str, size: SizeArg = None, resize: Optional[str] = None, alpha: str = "error",
               max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file -> uint8 RGB [H, W, 3].

    Errors (FileNotFoundError / ValueError) name the file: missing, corrupt or
    truncated, alpha channel (unless ``alpha`` says otherwise), not ``size``
    (unless ``resize`` names an OpenCV method: "area", "bicubic", "bilinear", "nearest"),
    or declaring more than ``max_pixels`` pixels (checked from the header, before decoding).
    Grayscale is converted to RGB by replicating the channel.
    """
    path = os.fspath(path)
    return fit_size(decode_bytes(read_file(path), path, alpha, max_pixels), size, resize, path)


def parallel_map(fn, items: Sequence, progress: bool, desc: str, num_threads: Optional[int] = None) -> List:
    """``[fn(x) for x in items]`` on a thread pool (OpenCV and file reads release the GIL), in order."""
    if num_threads is None:
        num_threads = min(32, 2 * (os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(num_threads) as pool:
        results = pool.map(fn, items)
        if progress:
            from lrfr_tf.cli_logging import progress_bar

            results = progress_bar(results, total=len(items), desc=desc, unit="img")
        return list(results)


def load_images(
    paths: Sequence[str],
    size: SizeArg = (112, 112),
    progress: bool = True,
    resize: Optional[str] = None,
    alpha: str = "error",
    num_threads: Optional[int] = None,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Read many images in parallel -> uint8 RGB [N, H, W, 3].

    Every image must be ``size`` unless ``resize`` is given; with ``size=None``
    all images must share one size. The first bad file raises an error naming it.
    """
    paths = [os.fspath(p) for p in paths]
    images = parallel_map(lambda p: load_image(p, size, resize, alpha, max_pixels), paths, progress, "loading images", num_threads)
    if not images:
        hw = size_hw(size) or (0, 0)
        return np.zeros((0, hw[0], hw[1], 3), np.uint8)
    first = images[0].shape
    for path, image in zip(paths, images):
        if image.shape != first:
            raise ValueError(f"{path}: image is {image.shape[0]}x{image.shape[1]}, but {paths[0]} is {first[0]}x{first[1]}")
    return np.stack(images)


@dataclasses.dataclass
class ScanResult:
    """Outcome of ``scan_images``: ``errors`` maps each bad file to its message,
    ``formats`` counts the good files by format ("jpeg", "png")."""

    num_files: int
    errors: Dict[str, str]
    formats: Dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self, limit: int = 100) -> str:
        names = sorted(self.errors)
        shown = "\n".join(f"  {self.errors[p]}" for p in names[:limit])
        more = f"\n  ... and {len(names) - limit} more" if len(names) > limit else ""
        return f"{len(names)} of {self.num_files} image file(s) failed validation:\n{shown}{more}"


def scan_images(
    paths: Sequence[str],
    size: SizeArg = None,
    alpha: str = "error",
    progress: bool = False,
    num_threads: Optional[int] = None,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
) -> ScanResult:
    """Header-only validation of many files in parallel (no pixel decoding).

    Checks existence, format signature, header, completeness (JPEG EOI / PNG IEND),
    the pixel limit, channels/alpha and, if ``size`` is given, dimensions.
    Returns every failure. Damage inside the compressed data is not seen: use
    ``check_images`` for that.
    """
    check_alpha_mode(alpha)

    def check(path: str) -> Tuple[Optional[str], Optional[str]]:
        """(error message, None) or (None, format)."""
        try:
            info = inspect_image(path, max_pixels)
            check_image_info(info, path, size, alpha)
        except (OSError, ValueError) as e:
            return str(e), None
        return None, info.format

    paths = [os.fspath(p) for p in paths]
    results = parallel_map(check, paths, progress, "validating images", num_threads)
    formats: Dict[str, int] = {}
    for _, fmt in results:
        if fmt is not None:
            formats[fmt] = formats.get(fmt, 0) + 1
    return ScanResult(len(paths), {p: m for p, (m, _) in zip(paths, results) if m is not None}, formats)


# libpng warnings about colour-management chunks, which neither OpenCV nor TF applies to the pixels.
BENIGN_WARNINGS = ("iCCP:", "sRGB:", "cHRM:", "gAMA:", "known incorrect sRGB profile")

_capture_lock = threading.Lock()
_capture_fd: Optional[int] = None  # a temporary file that fd 2 points at while capturing


def _captured_stderr(fn):
    """Run ``fn()`` with the process's C-level stderr (fd 2) sent to a temporary file;
    returns (result, text written). libjpeg/libpng report warnings only there."""
    global _capture_fd
    with _capture_lock:
        if _capture_fd is None:
            with tempfile.TemporaryFile() as f:
                _capture_fd = os.dup(f.fileno())
        saved = os.dup(2)
        os.ftruncate(_capture_fd, 0)
        os.lseek(_capture_fd, 0, os.SEEK_SET)
        os.dup2(_capture_fd, 2)
        try:
            result = fn()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        size = os.lseek(_capture_fd, 0, os.SEEK_END)
        os.lseek(_capture_fd, 0, os.SEEK_SET)
        text = os.read(_capture_fd, min(size, 65536)).decode("utf-8", "replace") if size else ""
    return result, text


def _decoder_warning(text: str) -> Optional[str]:
    """The first decoder warning in captured stderr text that is not benign, or None."""
    for line in text.splitlines():
        line = line.strip()
        if line and not any(b in line for b in BENIGN_WARNINGS):
            return line
    return None


def check_image_bytes(
    data: bytes,
    source: str = "<bytes>",
    size: SizeArg = None,
    alpha: str = "error",
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
) -> ImageInfo:
    """Full decode check of one encoded image (in this process); returns its header info.

    Header checks of ``inspect_image_bytes`` and ``check_image_info``, then a full
    OpenCV decode with fd 2 captured: a libjpeg/libpng warning (other than
    ``BENIGN_WARNINGS``) is a ValueError naming ``source`` and quoting the warning,
    as is a failed decode or a decoded size that differs from the header.
    While it runs, other threads' writes to stderr are captured too (and may be
    taken for warnings): ``check_images`` runs it in worker processes.
    """
    import cv2

    info = inspect_image_bytes(data, source, max_pixels)
    check_image_info(info, source, size, alpha)
    buf = np.frombuffer(data, np.uint8)
    image, text = _captured_stderr(lambda: cv2.imdecode(buf, cv2.IMREAD_UNCHANGED))
    fmt = info.format.upper()
    warning = _decoder_warning(text)
    if image is None:
        raise ValueError(f"{source}: corrupt {fmt} (cannot be decoded{': ' + warning if warning else ''})")
    if warning is not None:
        raise ValueError(f"{source}: corrupt {fmt} (the decoder warns {warning!r}; its pixels would be wrong)")
    if image.shape[:2] != (info.height, info.width):
        raise ValueError(f"{source}: corrupt {fmt} (decoded {image.shape[0]}x{image.shape[1]}, header says "
                         f"{info.height}x{info.width})")
    return info


def _check_item(item, size, alpha, max_pixels) -> Tuple[Optional[str], Optional[str]]:
    """(error message, None) or (None, format) for a path or a (name, bytes) pair."""
    name, data = item if isinstance(item, tuple) else (item, None)
    try:
        if data is None:
            data = read_file(name)
        return None, check_image_bytes(data, name, size, alpha, max_pixels).format
    except (OSError, ValueError) as e:
        return str(e) or f"{name}: {type(e).__name__}", None


def _check_chunk(items, size, alpha, max_pixels) -> List[Tuple[Optional[str], Optional[str]]]:
    return [_check_item(item, size, alpha, max_pixels) for item in items]


def _send(stream, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack(">Q", len(data)) + data)
    stream.flush()


def _receive(stream):
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("decode-check worker pipe closed")
    (n,) = struct.unpack(">Q", head)
    data = stream.read(n)
    if len(data) < n:
        raise EOFError("decode-check worker pipe closed")
    return pickle.loads(data)


def _worker_main() -> None:
    """Loop of a decode-check worker process: read (items, size, alpha, max_pixels) from stdin,
    write the results to stdout (both length-prefixed pickles from the parent process only)."""
    import cv2

    cv2.setNumThreads(1)  # one decode at a time per process; the pool gives the parallelism
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write to the result pipe
    while True:
        try:
            task = _receive(stdin)
        except EOFError:
            return
        _send(stdout, _check_chunk(*task))


class _Worker:
    """A decode-check worker: a fresh ``python -c`` process (not multiprocessing, which would
    re-import the caller's main module and inherit TF's threads through fork)."""

    def __init__(self):
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([package_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from lrfr_tf.data.images import _worker_main; _worker_main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        )

    def run(self, task):
        _send(self.proc.stdin, task)
        return _receive(self.proc.stdout)

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_POOL: List["_Worker"] = []  # idle workers, kept for the next call (start-up costs ~0.3 s each)
_POOL_LOCK = threading.Lock()


def _close_pool() -> None:
    while _POOL:
        _POOL.pop().close()


atexit.register(_close_pool)


def _run_chunks(chunks, task_args, num_workers: int, on_done) -> List:
    """Results of every chunk, in order, computed by ``num_workers`` worker processes (reused
    between calls). A chunk on which a worker dies (a native crash in a decoder) is rerun item
    by item in fresh workers, and an item that kills its worker is reported as an error naming it."""
    results: List = [None] * len(chunks)
    todo = queue.Queue()
    for k in range(len(chunks)):
        todo.put(k)

    def crashed(item, code) -> Tuple[Optional[str], Optional[str]]:
        name = item[0] if isinstance(item, tuple) else item
        return f"{name}: the image decoder crashed on this file (worker exit status {code})", None

    def serve(worker: "_Worker", kept: List["_Worker"]):
        try:
            while True:
                try:
                    k = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    results[k] = worker.run((chunks[k],) + task_args)
                except (EOFError, OSError, pickle.UnpicklingError):
                    worker.proc.wait()
                    worker = _Worker()
                    part = []
                    for item in chunks[k]:
                        try:
                            part.extend(worker.run(([item],) + task_args))
                        except (EOFError, OSError, pickle.UnpicklingError):
                            part.append(crashed(item, worker.proc.wait()))
                            worker = _Worker()
                    results[k] = part
                on_done(len(chunks[k]))
        finally:
            kept.append(worker)

    with _POOL_LOCK:
        workers = [_POOL.pop() if _POOL else _Worker() for _ in range(num_workers)]
        workers = [w if w.proc.poll() is None else _Worker() for w in workers]
        kept: List[_Worker] = []
        threads = [threading.Thread(target=serve, args=(w, kept), daemon=True) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        _POOL.extend(w for w in kept if w.proc.poll() is None)
    return results


def check_images(
    items: Sequence[Union[str, os.PathLike, Tuple[str, bytes]]],
    size: SizeArg = None,
    alpha: str = "error",
    progress: bool = False,
    num_workers: Optional[int] = None,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
) -> ScanResult:
    """Decode-check many files (or ``(name, bytes)`` pairs) in parallel -> ``ScanResult``.

    Every item gets ``check_image_bytes``: header, completeness, pixel limit,
    alpha/size rules, then a full decode in which libjpeg/libpng warnings are
    errors. Runs in ``num_workers`` worker processes (default: one per CPU,
    fewer for small inputs; 0 runs in this process), each with its own
    captured stderr. ``errors`` maps each bad item's name to a one-line reason.
    """
    check_alpha_mode(alpha)
    items = [(str(i[0]), bytes(i[1])) if isinstance(i, tuple) else os.fspath(i) for i in items]
    names = [i[0] if isinstance(i, tuple) else i for i in items]
    n = len(items)
    if num_workers is None:
        num_workers = min(os.cpu_count() or 1, max(1, -(-n // 500)))
    chunk = max(1, min(256, -(-n // max(1, 4 * num_workers))))
    chunks = [items[k : k + chunk] for k in range(0, n, chunk)]
    bar = None
    if progress:
        from lrfr_tf.cli_logging import progress_bar

        bar = progress_bar(total=n, desc="decode-checking images", unit="img")
    results: List[Tuple[Optional[str], Optional[str]]] = []
    if num_workers == 0 or n == 0:
        for c in chunks:
            results.extend(_check_chunk(c, size, alpha, max_pixels))
            if bar is not None:
                bar.update(len(c))
    else:
        lock = threading.Lock()

        def done(count: int) -> None:
            if bar is not None:
                with lock:
                    bar.update(count)

        for part in _run_chunks(chunks, (size, alpha, max_pixels), min(num_workers, len(chunks)), done):
            results.extend(part)
    if bar is not None:
        bar.close()
    formats: Dict[str, int] = {}
    for _, fmt in results:
        if fmt is not None:
            formats[fmt] = formats.get(fmt, 0) + 1
    return ScanResult(n, {p: m for p, (m, _) in zip(names, results) if m is not None}, formats)


def decode_image(contents, channels: int = 3, alpha: str = "error", source=None, jpeg_only: bool = False):
    """Encoded JPEG/PNG bytes (tf.string scalar) -> float32 [H, W, channels] in [0, 255] (TF op).

    Graph-safe (use inside tf.data). JPEGs use the accurate integer IDCT, so the
    pixels equal ``load_image``'s. Grayscale is replicated to RGB; an alpha
    channel fails a runtime assertion (alpha="error", naming ``source``, a
    tf.string path, when given), is dropped ("drop") or composited over black
    ("composite"). ``channels=1`` returns luma (``tf.image.rgb_to_grayscale``).

    ``jpeg_only=True`` (the caller has checked that every input is a JPEG, e.g.
    with ``scan_images``) decodes RGB in one op, with the same pixels: libjpeg
    replicates grayscale, and a JPEG has no alpha. The format dispatch and
    channel rules cost more than the decoding itself inside tf.data.
    """
    import tensorflow as tf

    check_alpha_mode(alpha)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    contents = tf.convert_to_tensor(contents, tf.string)
    if jpeg_only and channels == 3:
        return tf.cast(tf.io.decode_jpeg(contents, channels=3, dct_method="INTEGER_ACCURATE"), tf.float32)
    raw = tf.cond(
        tf.io.is_jpeg(contents),
        lambda: tf.io.decode_jpeg(contents, channels=0, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(contents, channels=0, dtype=tf.uint8, expand_animations=False),
    )
    num_channels = tf.shape(raw)[-1]
    has_alpha = tf.logical_or(tf.equal(num_channels, 2), tf.equal(num_channels, 4))
    if alpha == "error":
        who = source if source is not None else "image"
        check = tf.debugging.Assert(
            tf.logical_not(has_alpha),
            [who, "has an alpha channel (pass alpha='drop' or alpha='composite')"],
        )
        with tf.control_dependencies([check]):
            raw = tf.identity(raw)
    image = tf.cast(raw, tf.float32)
    colour_channels = num_channels - tf.cast(has_alpha, tf.int32)
    colour = image[:, :, : tf.maximum(colour_channels, 1)]
    if alpha == "composite":
        weight = tf.cond(has_alpha, lambda: image[:, :, -1:] / 255.0, lambda: tf.ones_like(image[:, :, :1]))
        colour = tf.round(colour * weight)
    rgb = tf.cond(
        tf.equal(colour_channels, 1),
        lambda: tf.tile(colour[:, :, :1], [1, 1, 3]),
        lambda: colour[:, :, :3],
    )
    rgb = tf.ensure_shape(rgb, [None, None, 3])
    if channels == 1:
        return tf.image.rgb_to_grayscale(rgb)
    return rgb
