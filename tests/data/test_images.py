"""Image decoding and validation: OpenCV and TF decoders agree, bad files are named."""

import glob
import os

import cv2
import numpy as np
import pytest
import tensorflow as tf

import fake_images
from lrfr_tf.data import images


def _tf_decode(path, **kw):
    return images.decode_image(tf.io.read_file(str(path)), source=str(path), **kw).numpy()


def test_load_image_and_decode_image_are_pixel_identical_on_real_jpegs(sample_dir):
    paths = sorted(glob.glob(str(sample_dir / "celeba" / "*" / "*.jpg")))[:40]
    assert len(paths) == 40
    batch = images.load_images(paths, progress=False)
    assert batch.shape == (40, 112, 112, 3) and batch.dtype == np.uint8
    for path, image in zip(paths, batch):
        np.testing.assert_array_equal(_tf_decode(path), image.astype(np.float32))
        np.testing.assert_array_equal(_tf_decode(path, jpeg_only=True), image.astype(np.float32))


def test_decode_image_inside_tf_function_equals_eager(sample_dir):
    path = sorted(glob.glob(str(sample_dir / "celeba" / "*" / "*.jpg")))[0]
    graph = tf.function(lambda c: images.decode_image(c))(tf.io.read_file(path)).numpy()
    np.testing.assert_array_equal(graph, _tf_decode(path))


def test_png_roundtrip_is_exact_and_rgb_ordered(tmp_path):
    image = fake_images.random_rgb(3)
    image[:8, :8] = (255, 0, 0)  # a red corner must come back as R=255
    path = fake_images.write(tmp_path / "x.png", image)
    np.testing.assert_array_equal(images.load_image(path), image)
    np.testing.assert_array_equal(_tf_decode(path), image.astype(np.float32))
    assert tuple(images.load_image(path)[0, 0]) == (255, 0, 0)


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_grayscale_is_replicated_to_rgb(tmp_path, ext):
    gray = fake_images.random_rgb(4)[:, :, 1]
    path = fake_images.write(tmp_path / f"gray{ext}", gray)
    assert images.inspect_image(str(path)).channels == 1
    loaded = images.load_image(path)
    assert loaded.shape == (112, 112, 3)
    np.testing.assert_array_equal(loaded[:, :, 0], loaded[:, :, 1])
    np.testing.assert_array_equal(loaded[:, :, 0], loaded[:, :, 2])
    if ext == ".png":
        np.testing.assert_array_equal(loaded[:, :, 0], gray)
    np.testing.assert_array_equal(_tf_decode(path), loaded.astype(np.float32))
    if ext == ".jpg":  # the one-op path for verified JPEGs replicates grayscale the same way
        np.testing.assert_array_equal(_tf_decode(path, jpeg_only=True), loaded.astype(np.float32))


def test_png_with_alpha_is_an_error_by_default_and_drop_or_composite_on_request(tmp_path):
    image = fake_images.rgba()
    path = fake_images.write(tmp_path / "face_rgba.png", image)
    with pytest.raises(ValueError, match=r"face_rgba\.png.*alpha"):
        images.load_image(path)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"face_rgba\.png"):
        _tf_decode(path)
    np.testing.assert_array_equal(images.load_image(path, alpha="drop"), image[:, :, :3])
    expected = np.round(image[:, :, :3].astype(np.float32) * (image[:, :, 3:].astype(np.float32) / 255.0))
    np.testing.assert_array_equal(images.load_image(path, alpha="composite"), expected.astype(np.uint8))
    for mode in ("drop", "composite"):
        np.testing.assert_array_equal(_tf_decode(path, alpha=mode), images.load_image(path, alpha=mode))


def test_sixteen_bit_png_is_reduced_like_tf(tmp_path):
    image16 = (fake_images.random_rgb(5).astype(np.uint16) * 257 + 100).astype(np.uint16)
    path = fake_images.write(tmp_path / "deep.png", image16)
    loaded = images.load_image(path)
    np.testing.assert_array_equal(loaded, (image16 >> 8).astype(np.uint8))
    np.testing.assert_array_equal(_tf_decode(path), loaded.astype(np.float32))


def test_corrupt_jpeg_names_the_file(tmp_path):
    path = fake_images.corrupt_jpeg(tmp_path / "broken.jpg")
    # Both decoders would return damaged pixels with only a libjpeg warning on stderr.
    assert cv2.imread(str(path)) is not None
    with pytest.raises(ValueError, match=r"broken\.jpg: corrupt JPEG \(invalid marker"):
        images.load_image(path)


def test_undecodable_jpeg_names_the_file(tmp_path):
    path = fake_images.damaged_header_jpeg(tmp_path / "damaged.jpg")
    with pytest.raises(ValueError, match=r"damaged\.jpg: corrupt JPEG \(cannot be decoded\)"):
        images.load_image(path)


def test_progressive_jpeg_passes_the_entropy_check(tmp_path):
    image = fake_images.random_rgb(13)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_RST_INTERVAL, 4])
    path = tmp_path / "progressive.jpg"
    path.write_bytes(buf.tobytes())
    np.testing.assert_array_equal(images.load_image(path), _tf_decode(path).astype(np.uint8))


def test_random_bytes_are_not_an_image(tmp_path):
    path = tmp_path / "noise.jpg"
    path.write_bytes(os.urandom(500))
    with pytest.raises(ValueError, match=r"noise\.jpg: not a JPEG or PNG"):
        images.load_image(path)


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_truncated_file_names_the_file(tmp_path, ext):
    path = fake_images.truncated(tmp_path / f"cut{ext}")
    # OpenCV alone would decode the truncated JPEG with a grey bottom and only a warning.
    with pytest.raises(ValueError, match=rf"cut\{ext}: truncated"):
        images.load_image(path)
    assert str(path) in images.scan_images([str(path)]).errors


def test_image_of_wrong_size_is_an_error_unless_resize(tmp_path):
    image = fake_images.random_rgb(6, (120, 100))
    path = fake_images.write(tmp_path / "big.png", image)
    with pytest.raises(ValueError, match=r"big\.png: image is 120x100 \(HxW\), expected 112x112"):
        images.load_images([str(path)], progress=False)
    resized = images.load_images([str(path)], resize="area", progress=False)
    np.testing.assert_array_equal(resized[0], cv2.resize(image, (112, 112), interpolation=cv2.INTER_AREA))
    assert images.load_image(path).shape == (120, 100, 3)  # no size asked: any size


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothere\.jpg"):
        images.load_image(tmp_path / "nothere.jpg")


def test_load_images_keeps_order_and_requires_one_size(tmp_path):
    a = fake_images.write(tmp_path / "a.png", fake_images.random_rgb(7))
    b = fake_images.write(tmp_path / "b.png", fake_images.random_rgb(8))
    c = fake_images.write(tmp_path / "c.png", fake_images.random_rgb(9, (64, 64)))
    batch = images.load_images([str(b), str(a)], progress=False)
    np.testing.assert_array_equal(batch[0], fake_images.random_rgb(8))
    np.testing.assert_array_equal(batch[1], fake_images.random_rgb(7))
    with pytest.raises(ValueError, match=r"c\.png: image is 64x64"):
        images.load_images([str(a), str(c)], size=None, progress=False)


def test_inspect_reads_size_and_channels_from_the_header(tmp_path):
    jpg = fake_images.write(tmp_path / "wide.jpg", fake_images.random_rgb(10, (48, 80)))
    info = images.inspect_image(str(jpg))
    assert (info.format, info.height, info.width, info.channels, info.has_alpha) == ("jpeg", 48, 80, 3, False)
    png = fake_images.write(tmp_path / "a.png", fake_images.rgba(size=(30, 20)))
    info = images.inspect_image(str(png))
    assert (info.format, info.height, info.width, info.channels, info.has_alpha) == ("png", 30, 20, 4, True)


def test_scan_images_reports_every_bad_file(tmp_path):
    good = fake_images.write(tmp_path / "good.jpg", fake_images.random_rgb(11))
    bad = {
        str(fake_images.corrupt_jpeg(tmp_path / "corrupt.jpg")): "corrupt",
        str(fake_images.truncated(tmp_path / "trunc.jpg")): "truncated",
        str(fake_images.write(tmp_path / "alpha.png", fake_images.rgba())): "alpha",
        str(fake_images.write(tmp_path / "small.jpg", fake_images.random_rgb(12, (50, 50)))): "50x50",
        str(tmp_path / "missing.jpg"): "no such",
    }
    result = images.scan_images([str(good)] + list(bad), size=112)
    assert set(result.errors) == set(bad)
    for path, word in bad.items():
        assert path in result.errors[path] and word in result.errors[path]
    assert "5 of 6" in result.summary()
    assert result.formats == {"jpeg": 1}  # the good files only
    png = fake_images.write(tmp_path / "ok.png", fake_images.random_rgb(13))
    assert images.scan_images([str(good), str(png)]).formats == {"jpeg": 1, "png": 1}


def test_strict_scan_accepts_every_real_lfw_and_celeba_image(lfw_dir, celeba_dir):
    """No false alarms from the header/entropy checks on 19,442 real JPEGs."""
    for root in (lfw_dir / "aligned112", celeba_dir):
        paths = sorted(glob.glob(str(root / "*" / "*.jpg")))
        result = images.scan_images(paths, size=112)
        assert len(paths) > 6000 and result.ok, result.summary(limit=5)
