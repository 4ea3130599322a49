"""lrfr_tf.edge runs where TensorFlow and Keras cannot be imported: the library (a tiny pipeline on a real
image) and the command line, in a fresh process whose import system refuses both."""

import os
import pathlib
import subprocess
import sys
import textwrap

REPO = pathlib.Path(__file__).resolve().parents[2]

BLOCKER = textwrap.dedent("""
    import importlib.abc, sys

    class NoTensorFlow(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
                raise ImportError(f"{name} imported in a TensorFlow-free process")
            return None

    sys.meta_path.insert(0, NoTensorFlow())
""")


def run(code, tmp_path):
    script = tmp_path / "script.py"
    script.write_text(BLOCKER + textwrap.dedent(code))
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300,
                          cwd=tmp_path)


def test_blocker_blocks(tmp_path):
    result = run("import tensorflow\n", tmp_path)
    assert result.returncode != 0 and "imported in a TensorFlow-free process" in result.stderr


def test_pipeline_runs_without_tensorflow(tmp_path, lfw_dir, mobilefacenet_tflite):
    image = lfw_dir / "raw250" / "Aaron_Guiel" / "Aaron_Guiel_0001.jpg"
    result = run(f"""
        import sys
        import numpy as np
        import lrfr_tf.edge
        from lrfr_tf.edge import EdgePipeline, Gallery
        from lrfr_tf.edge.inputs import read_image
        pipeline = EdgePipeline({str(mobilefacenet_tflite)!r}, detector="short", landmarks="mesh")
        image = read_image({str(image)!r})
        faces = pipeline.faces(image)
        gallery = Gallery(pipeline.embedder.sha256, pipeline.embedder.dim, faces[0].embedding[None], ["aaron"], ["x"])
        answers = [f.decision.answer for f in pipeline.identify(image, gallery)]
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
        print("answers", answers, "tf modules", loaded)
    """, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "answers ['aaron'" in result.stdout and "tf modules []" in result.stdout


def test_command_line_runs_without_tensorflow(tmp_path, lfw_dir, mobilefacenet_tflite):
    images = lfw_dir / "raw250"
    result = run(f"""
        import runpy, sys
        gallery = {str(tmp_path / "g.npz")!r}
        model = {str(mobilefacenet_tflite)!r}
        sys.argv = ["lrfr_tf.edge", "identify", "--model=" + model, "--gallery=" + gallery,
                    "--input={images / "Ann_Veneman" / "Ann_Veneman_0001.jpg"}", "--json"]
        import numpy as np
        from lrfr_tf.edge.gallery import Gallery
        from lrfr_tf.edge.embedder import TFLiteEmbedder
        embedder = TFLiteEmbedder(model)
        Gallery(embedder.sha256, embedder.dim, np.eye(1, embedder.dim), ["nobody"], ["x"]).save(gallery)
        try:
            runpy.run_module("lrfr_tf.edge", run_name="__main__")
        except SystemExit as e:
            print("exit", e.code)
        print("tf modules", sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")))
    """, tmp_path)
    assert "exit 0" in result.stdout, result.stderr[-3000:]
    assert '"answer": "unknown"' in result.stdout and "tf modules []" in result.stdout
