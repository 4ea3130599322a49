"""The README's backbone table: ``python -m lrfr_tf.models.table``.

For every registered backbone at its default configuration: trainable
parameters, multiply-accumulates (MACs) of one 112x112 image, embedding size,
head, and the recipes in ``recipes/`` that name it.

MACs are counted analytically on the traced inference graph (batch 1):
Conv2D  H_out * W_out * C_out * k_h * k_w * C_in, DepthwiseConv2dNative
H_out * W_out * C_out * k_h * k_w, MatMul M * N * K; batch norm, activations,
additions and resizes are not counted (the convention of the MobileFaceNet
and ArcFace papers; 1 MAC = 2 FLOPs).
"""

from __future__ import annotations

import pathlib
import re
from typing import Dict, List, Sequence

import numpy as np

import lrfr_tf
from lrfr_tf.models import BACKBONES, create_backbone

RECIPES_DIR = pathlib.Path(lrfr_tf.__file__).resolve().parents[1] / "recipes"


def count_params(model) -> int:
    """Trainable parameters (BN moving statistics excluded)."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def count_macs(model, size: Sequence[int] = (112, 112)) -> int:
    """Multiply-accumulates of one [1, H, W, 3] forward pass (inference mode)."""
    import tensorflow as tf

    spec = tf.TensorSpec([1, int(size[0]), int(size[1]), 3], tf.float32)
    graph = tf.function(lambda x: model(x, training=False), autograph=False).get_concrete_function(spec).graph
    macs = 0
    for op in graph.get_operations():
        if op.type not in ("Conv2D", "DepthwiseConv2dNative", "MatMul"):
            continue
        out, w = op.outputs[0].shape, op.inputs[1].shape
        if op.type == "Conv2D":
            macs += out[1] * out[2] * out[3] * w[0] * w[1] * w[2]
        elif op.type == "DepthwiseConv2dNative":
            macs += out[1] * out[2] * out[3] * w[0] * w[1]
        else:
            transpose_b = op.get_attr("transpose_b")
            macs += out[0] * out[1] * (w[1] if transpose_b else w[0])
    return int(macs)


def recipes_using(name: str, recipes_dir: pathlib.Path = RECIPES_DIR) -> List[str]:
    """Recipes (recipes/*.py) whose source names the backbone as a quoted string."""
    if not recipes_dir.is_dir():
        return []
    pattern = re.compile(r"""["']%s["']""" % re.escape(name))
    return sorted(p.stem for p in recipes_dir.glob("*.py")
                  if not p.name.startswith("_") and pattern.search(p.read_text()))


def backbone_rows(names: Sequence[str] | None = None, size: Sequence[int] = (112, 112)) -> List[Dict]:
    rows = []
    for name in names or BACKBONES.names():
        model = create_backbone(name)
        model(np.zeros((1, int(size[0]), int(size[1]), 3), np.float32))
        rows.append({"backbone": name, "params": count_params(model), "macs": count_macs(model, size),
                     "embedding_dim": model.embedding_dim, "head": getattr(model, "head", ""),
                     "recipes": recipes_using(name)})
    return rows


def markdown(rows: List[Dict], size: Sequence[int] = (112, 112)) -> str:
    lines = [f"| backbone | parameters | MACs at {size[0]}x{size[1]} | embedding | head | recipes |",
             "|---|---:|---:|---:|---|---|"]
    for r in rows:
        macs = f"{r['macs'] / 1e9:.2f} G" if r["macs"] >= 1e9 else f"{r['macs'] / 1e6:.0f} M"
        lines.append(f"| `{r['backbone']}` | {r['params'] / 1e6:.2f} M | {macs} | {r['embedding_dim']} | "
                     f"{r['head']} | {', '.join(r['recipes']) or '-'} |")
    return "\n".join(lines)


def main() -> None:
    print(markdown(backbone_rows()))


if __name__ == "__main__":
    main()
