"""``python -m lrfr_tf.edge enroll|identify`` as a user runs them, including the issue's bad inputs: no face,
corrupt files in a folder, grayscale and RGBA images, a video, another model's gallery, an empty gallery, a model
that is not TFLite, an output that cannot be written."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
PEOPLE = {"Amelie_Mauresmo": 3, "Ann_Veneman": 3, "Alvaro_Uribe": 3}  # enroll the first images, probe the next


def edge(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "lrfr_tf.edge", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def one_error_line(result):
    lines = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def skipped_files(result):
    """A run over a folder: one ``error: <file>: <reason>`` line per unreadable file, then the count (exit 2)."""
    lines = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert result.returncode == 2 and "Traceback" not in result.stderr and "WARN" not in result.stderr, result.stderr
    return lines[:-1], lines[-1]


@pytest.fixture(scope="module")
def world(tmp_path_factory, lfw_dir, mobilefacenet_tflite):
    """An enrolment folder (2 images per person, plus a faceless and a corrupt file), a probe folder and the
    gallery enrolled from it."""
    root = tmp_path_factory.mktemp("edge_cli")
    enroll_dir, probes = root / "enroll", root / "probes"
    for person, count in PEOPLE.items():
        files = sorted((lfw_dir / "raw250" / person).glob("*.jpg"))[:count]
        (enroll_dir / person).mkdir(parents=True)
        for f in files[:2]:
            shutil.copy(f, enroll_dir / person / f.name)
        probes.mkdir(exist_ok=True)
        shutil.copy(files[2], probes / files[2].name)
    cv2.imwrite(str(enroll_dir / "Ann_Veneman" / "blank.png"), np.full((200, 200, 3), 128, np.uint8))
    (enroll_dir / "Alvaro_Uribe" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    gallery = root / "gallery.npz"
    result = edge("enroll", f"--model={mobilefacenet_tflite}", f"--images={enroll_dir}", f"--out={gallery}", cwd=root)
    return dict(root=root, enroll=enroll_dir, probes=probes, gallery=gallery, enroll_result=result,
                model=str(mobilefacenet_tflite))


def test_enroll_writes_a_gallery_and_counts_what_it_skipped(world):
    from lrfr_tf.edge.gallery import load_gallery

    result = world["enroll_result"]
    assert "enrolled 6 faces of 3 identities" in result.stdout
    assert "1 image(s) without a face, 1 unreadable" in result.stdout and "blank.png" in result.stderr
    corrupt = world["enroll"] / "Alvaro_Uribe" / "corrupt.jpg"
    assert skipped_files(result) == ([f"error: {corrupt}: corrupt or truncated JPEG (segment 0xFFE0 runs past the end "
                                      "of the file)"],
                                     f"error: 1 of 8 image(s) could not be read: {corrupt}")
    gallery = load_gallery(str(world["gallery"]))
    assert sorted(gallery.names) == sorted(p for p in PEOPLE for _ in range(2))


def test_identify_a_folder_with_bad_and_odd_images(world):
    probes = world["root"] / "probes_odd"
    shutil.copytree(world["probes"], probes)
    amelie = next(probes.glob("Amelie*.jpg"))
    colour = cv2.imread(str(amelie))
    cv2.imwrite(str(probes / "gray.png"), cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(probes / "rgba.png"), cv2.cvtColor(colour, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(probes / "noface.png"), np.zeros((120, 160, 3), np.uint8))
    (probes / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    result = edge("identify", f"--model={world['model']}", f"--gallery={world['gallery']}", f"--input={probes}", "--json",
                  cwd=world["root"])
    each, summary = skipped_files(result)
    assert each == [f"error: {probes / 'broken.png'}: corrupt PNG (missing IHDR header)"]
    assert summary == f"error: 1 of 7 input(s) could not be read: {probes / 'broken.png'}"
    records = {pathlib.Path(r["input"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert len(records) == 6 and records["noface.png"]["faces"] == []
    for name, record in records.items():
        if name == "noface.png":
            continue
        best = max(record["faces"], key=lambda f: f["box_height_px"])
        expected = "Amelie_Mauresmo" if name in ("gray.png", "rgba.png") else name.rsplit("_", 1)[0]
        assert best["answer"] == expected, (name, best)
        assert best["similarity"] >= best["threshold"] and best["face_px"] > 40
        assert set(best) >= {"box", "inter_ocular_px", "box_height_px", "face_px", "answer", "similarity", "threshold"}


def test_identify_prints_one_line_per_face_and_a_video_frame_by_frame(world):
    probe = next(world["probes"].glob("Ann*.jpg"))
    result = edge("identify", f"--model={world['model']}", f"--gallery={world['gallery']}", f"--input={probe}",
                  "--detector=short", cwd=world["root"])
    assert result.returncode == 0, result.stderr
    line = next(l for l in result.stdout.splitlines() if ": Ann_Veneman (" in l)
    assert "inter-ocular" in line and "box height" in line and "similarity" in line and "threshold 0.48" in line
    video = world["root"] / "clip.avi"
    frame = cv2.resize(cv2.imread(str(probe)), (320, 240))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (320, 240))
    for shift in (0, 20, 40):
        writer.write(np.roll(frame, shift, axis=1))
    writer.release()
    result = edge("identify", f"--model={world['model']}", f"--gallery={world['gallery']}", f"--input={video}", "--json",
                  cwd=world["root"])
    assert result.returncode == 0, result.stderr
    records = [json.loads(l) for l in result.stdout.splitlines()]
    assert [r["frame"] for r in records] == [0, 1, 2]
    assert all(any(f["answer"] == "Ann_Veneman" for f in r["faces"]) for r in records)
    assert "faces/s" in result.stderr


def test_another_models_gallery_and_a_non_tflite_model_are_one_line_errors(world, tmp_path):
    from lrfr_tf import model_metadata

    other = tmp_path / "other.tflite"
    other.write_bytes(model_metadata.embed_in_tflite(pathlib.Path(world["model"]).read_bytes(), {"name": "other"}))
    result = edge("identify", f"--model={other}", f"--gallery={world['gallery']}", f"--input={world['probes']}",
                  cwd=tmp_path)
    assert "enrolled with another model" in one_error_line(result)
    text = tmp_path / "model.tflite"
    text.write_text("not a model")
    result = edge("identify", f"--model={text}", f"--gallery={world['gallery']}", f"--input={world['probes']}", cwd=tmp_path)
    assert one_error_line(result) == f"error: --model={text}: not a TFLite flatbuffer (no 'TFL3' identifier)"


def test_empty_galleries_and_unwritable_outputs(world, tmp_path):
    faceless = tmp_path / "faceless" / "nobody"
    faceless.mkdir(parents=True)
    cv2.imwrite(str(faceless / "blank.png"), np.zeros((100, 100, 3), np.uint8))
    out = tmp_path / "empty.npz"
    result = edge("enroll", f"--model={world['model']}", f"--images={faceless.parent}", f"--out={out}", cwd=tmp_path)
    assert "no face enrolled from 1 image(s); gallery not written" in one_error_line(result) and not out.exists()

    from lrfr_tf.edge.embedder import TFLiteEmbedder
    from lrfr_tf.edge.gallery import Gallery

    embedder = TFLiteEmbedder(world["model"])
    Gallery(embedder.sha256, embedder.dim, np.zeros((0, embedder.dim)), [], []).save(str(out))
    result = edge("identify", f"--model={world['model']}", f"--gallery={out}", f"--input={world['probes']}", "--json",
                  cwd=tmp_path)
    assert result.returncode == 0 and "the gallery is empty" in result.stderr
    answers = [f["answer"] for r in map(json.loads, result.stdout.splitlines()) for f in r["faces"]]
    assert answers and set(answers) == {"unknown"}

    result = edge("enroll", f"--model={world['model']}", f"--images={world['enroll']}", "--out=/proc/no/such/g.npz",
                  cwd=tmp_path)
    assert "--out=/proc/no/such/g.npz" in one_error_line(result) and "enroll:" not in result.stderr  # before any work
    result = edge("recognise", f"--model={world['model']}", cwd=tmp_path)
    assert "expected one command, enroll or identify" in one_error_line(result)


def test_enroll_aligned_faces_without_detection(world, lfw_dir, tmp_path):
    """--aligned: the faces of lfw/aligned112 are embedded as they are (the model's input already)."""
    from lrfr_tf.edge.embedder import TFLiteEmbedder
    from lrfr_tf.edge.gallery import load_gallery
    from lrfr_tf.edge.inputs import read_image

    people = tmp_path / "aligned"
    for person in PEOPLE:
        (people / person).mkdir(parents=True)
        source = sorted((lfw_dir / "aligned112" / person).glob("*.jpg"))[0]
        (people / person / source.name).write_bytes(source.read_bytes())
    out = tmp_path / "aligned.npz"
    result = edge("enroll", f"--model={world['model']}", f"--images={people}", f"--out={out}", "--aligned", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    gallery = load_gallery(str(out))
    embedder = TFLiteEmbedder(world["model"])
    expected = embedder.embed(np.stack([read_image(s) for s in gallery.sources]))
    np.testing.assert_allclose(gallery.embeddings, expected, atol=1e-5)
    assert gallery.names == sorted(PEOPLE)
