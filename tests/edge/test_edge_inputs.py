"""Any image layout reads as RGB uint8 (through lrfr_tf.data.images, TF-free); unreadable files are named."""

import cv2
import numpy as np
import pytest

from lrfr_tf.edge.inputs import identity_folders, list_inputs, read_image, video_frames

BGR = np.dstack([np.full((4, 5), 10, np.uint8), np.full((4, 5), 20, np.uint8), np.full((4, 5), 30, np.uint8)])


@pytest.mark.parametrize("name,image,expected", [
    ("colour.png", BGR, [30, 20, 10]),
    ("gray.png", np.full((4, 5), 77, np.uint8), [77, 77, 77]),
    ("rgba.png", np.dstack([BGR, np.full((4, 5), 9, np.uint8)]), [30, 20, 10]),  # alpha dropped, colour as stored
    ("gray16.png", np.full((4, 5), 200 * 256 + 99, np.uint16), [200, 200, 200]),  # 16 bit: the high byte
])
def test_any_layout_reads_as_rgb_uint8(tmp_path, name, image, expected):
    path = str(tmp_path / name)
    cv2.imwrite(path, image)
    rgb = read_image(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (4, 5, 3)
    np.testing.assert_array_equal(rgb[0, 0], expected)


@pytest.mark.parametrize("content,match", [(b"", "empty file"), (b"garbage" * 10, "not a JPEG or PNG image"),
                                           (b"\x89PNG\r\n\x1a\n truncated", "corrupt PNG")])
def test_unreadable_files_are_named(tmp_path, content, match):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"{path}: {match}"):
        read_image(str(path))


def test_truncated_jpeg_is_named(tmp_path):
    ok, data = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    path = tmp_path / "cut.jpg"
    path.write_bytes(data.tobytes()[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.jpg: truncated JPEG \\(no end-of-image marker"):
        read_image(str(path))


def test_folders_and_videos(tmp_path):
    (tmp_path / "ann").mkdir()
    (tmp_path / "empty").mkdir()
    cv2.imwrite(str(tmp_path / "ann" / "1.png"), BGR)
    (tmp_path / "notes.txt").write_text("x")
    assert identity_folders(str(tmp_path)) == [("ann", [str(tmp_path / "ann" / "1.png")])]
    with pytest.raises(ValueError, match="--images: .*no identity folders"):
        identity_folders(str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="--images: .*no such dataset directory"):
        identity_folders(str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        list_inputs(str(tmp_path / "absent.jpg"))
    video = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 5, (32, 24))
    for value in (0, 100, 200):
        writer.write(np.full((24, 32, 3), value, np.uint8))
    writer.release()
    count, frames = video_frames(video)
    frames = list(frames)
    assert count == 3 and len(frames) == 3 and [round(f.mean() / 100) for f in frames] == [0, 1, 2]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="broken.mp4"):
        video_frames(str(broken))
