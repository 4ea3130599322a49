"""The default threshold table of lrfr_tf.edge.decisions, measured: per face-size bucket, the cosine threshold at
which the pretrained MobileFaceNet falsely accepts 1 in 1,000 impostor comparisons, and what it then accepts.

Data: CelebA (../shared/data/celeba/aligned112: 299 identities, never LFW, which is test data). Gallery: each
identity's first face at 112 px. Probes: up to ``--probes_per_identity`` other faces per identity, each shrunk to
the bucket's lower edge (12, 16, 24, 40 px: the hardest face a bucket admits) with area averaging and brought back
to 112 px bicubic (as the edge pipeline's warp up-samples a small face), embedded with the pretrained
MobileFaceNet.tflite through lrfr_tf.edge's embedder. Impostor scores: each probe against every other identity's
gallery face; genuine: against its own. Threshold = the (1 - FAR) quantile of the impostor scores, rounded up to
0.01; TAR = share of genuine scores at or above it. The table for the buckets of ``lrfr_tf.edge.decisions``
(edges 12, 16, 24, 40 px): a bucket's threshold is the highest measured at its edges (40 and 112 px for the last);
a bucket abstains ("too small") when the TAR at its lower edge is below ``--abstain_below_tar`` (10%: nearly every
true match would come out "unknown" anyway); below 12 px the table abstains.
``tests/edge/test_edge_decisions.py`` checks that the table in the code is the one this script wrote.

  python benchmarks/edge_default_thresholds.py        # ~2 min; writes results/edge/default_thresholds.json/.png
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from lrfr_tf.cli_logging import progress_bar  # noqa: E402
from lrfr_tf.data.folders import IdentityFolder  # noqa: E402
from lrfr_tf.edge import decisions  # noqa: E402
from lrfr_tf.edge.embedder import TFLiteEmbedder  # noqa: E402
from lrfr_tf.edge.inputs import read_image  # noqa: E402

SHARED = REPO.parent / "shared" / "data"


def degrade(face: np.ndarray, size: int) -> np.ndarray:
    small = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
    return np.clip(cv2.resize(small.astype(np.float32), face.shape[1::-1], interpolation=cv2.INTER_CUBIC), 0, 255)


def embed_all(embedder, faces, desc, batch=64):
    return np.concatenate([embedder.embed(np.stack(faces[i:i + batch]))
                           for i in progress_bar(range(0, len(faces), batch), desc=desc, unit="batch")])


def suggested_table(rows, abstain_below_tar):
    """[[min_px, max_px, threshold or None]] for the bucket edges of lrfr_tf.edge.decisions.DEFAULT_THRESHOLDS."""
    measured = {r["size_px"]: r for r in rows}
    table = []
    for bucket in decisions.DEFAULT_THRESHOLDS:
        low, high = bucket.min_px, bucket.max_px
        inside = [r for size, r in sorted(measured.items()) if size >= low and (high is None or size <= high)]
        if low not in measured or measured[low]["tar"] < abstain_below_tar:
            table.append([low, high, None])
        else:
            table.append([low, high, max(r["threshold"] for r in inside)])
    return table


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(SHARED / "celeba/aligned112"))
    p.add_argument("--model", default=str(SHARED / "models/mobilefacenet/MobileFaceNet.tflite"))
    p.add_argument("--out", default=str(REPO / "results/edge/default_thresholds.json"))
    p.add_argument("--far", type=float, default=1e-3)
    p.add_argument("--probes_per_identity", type=int, default=4)
    p.add_argument("--sizes", default="12,16,24,40,112", help="Bucket edges (px) and the top size.")
    p.add_argument("--abstain_below_tar", type=float, default=0.10)
    args = p.parse_args(argv)
    started = time.time()
    folder = IdentityFolder(args.data)
    embedder = TFLiteEmbedder(args.model, num_threads=os.cpu_count() or 1)
    gallery_paths, probe_paths, probe_labels = [], [], []
    for label in range(folder.num_classes):
        paths = [p for p, l in zip(folder.paths, folder.labels) if l == label]
        gallery_paths.append(paths[0])
        probe_paths += paths[1:1 + args.probes_per_identity]
        probe_labels += [label] * len(paths[1:1 + args.probes_per_identity])
    probe_labels = np.array(probe_labels)
    gallery = embed_all(embedder, [read_image(p) for p in gallery_paths], "gallery")
    probes_hr = [read_image(p).astype(np.float32) for p in probe_paths]
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        probes = embed_all(embedder, [degrade(f, size) for f in probes_hr], f"{size} px")
        scores = probes @ gallery.T
        own = np.zeros_like(scores, bool)
        own[np.arange(len(probe_labels)), probe_labels] = True
        impostor, genuine = scores[~own], scores[own]
        threshold = math.ceil(float(np.quantile(impostor, 1 - args.far)) * 100) / 100
        rows.append(dict(size_px=size, threshold=threshold, far_measured=float(np.mean(impostor >= threshold)),
                         tar=float(np.mean(genuine >= threshold)), impostor_pairs=int(impostor.size),
                         genuine_pairs=int(genuine.size), impostor_p99=float(np.quantile(impostor, 0.99)),
                         genuine_median=float(np.median(genuine))))
        print(f"{size:3d} px: threshold {threshold:.2f} at FAR {args.far:g} (measured {rows[-1]['far_measured']:.2e}), "
              f"TAR {rows[-1]['tar']:.3f}", flush=True)
    table = suggested_table(rows, args.abstain_below_tar)
    for low, high, threshold in table:
        print(f"[{low}, {high if high is not None else 'inf'}) px: {'too small' if threshold is None else threshold}")
    doc = dict(meta=dict(data=os.path.relpath(args.data), model_sha256=embedder.sha256, far=args.far,
                         abstain_below_tar=args.abstain_below_tar, identities=folder.num_classes,
                         probes=len(probe_paths), wall_s=time.time() - started, loadavg=os.getloadavg()),
               rows=rows, table=table)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    sizes = [r["size_px"] for r in rows]
    ax.plot(sizes, [r["threshold"] for r in rows], "o-", label=f"threshold at FAR {args.far:g}")
    ax.plot(sizes, [r["tar"] for r in rows], "s-", label="TAR at that threshold")
    ax.plot(sizes, [r["genuine_median"] for r in rows], "^--", label="genuine similarity, median")
    ax.set(xlabel="probe face size (px)", ylim=(0, 1), title="MobileFaceNet on CelebA, low-res probe vs 112 px gallery")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.splitext(args.out)[0] + ".png", dpi=110)
    print(f"wrote {args.out} in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
