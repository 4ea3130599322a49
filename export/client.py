"""Minimal REST client for an exported embedder behind TF Serving or ``python -m lrfr_tf.serve``.

  python export/client.py --url=http://localhost:8501 --model=MobileFaceNet face1.jpg face2.jpg

Sends the raw RGB crops (uint8, any size: the exported graph resizes and normalises) to the ``embed``
signature, prints each embedding's size and norm, and with two images their cosine similarity from the
``verify`` signature. Standard library + NumPy + OpenCV only; the same request works against both servers.
"""

import argparse
import json
import sys
import urllib.error
import urllib.request

import cv2
import numpy as np


def predict(url: str, model: str, signature: str, instances, timeout: float = 30.0):
    body = json.dumps({"signature_name": signature, "instances": instances}).encode()
    request = urllib.request.Request(f"{url}/v1/models/{model}:predict", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())["predictions"]
    except urllib.error.HTTPError as e:  # TF Serving's error body: {"error": "..."}
        raise SystemExit(f"error: HTTP {e.code}: {json.loads(e.read() or b'{}').get('error', e.reason)}")


def read_rgb(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"error: {path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+")
    parser.add_argument("--url", default="http://localhost:8501")
    parser.add_argument("--model", default="MobileFaceNet")
    args = parser.parse_args(argv)
    faces = [read_rgb(p) for p in args.images]
    for path, face in zip(args.images, faces):
        (embedding,) = predict(args.url, args.model, "embed", [face.tolist()])
        print(f"{path}: {face.shape[1]}x{face.shape[0]} px -> embedding of {len(embedding)}, "
              f"norm {np.linalg.norm(embedding):.4f}")
    if len(faces) == 2:
        (similarity,) = predict(args.url, args.model, "verify",
                                [{"images_a": faces[0].tolist(), "images_b": faces[1].tolist()}])
        print(f"cosine similarity: {similarity:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
