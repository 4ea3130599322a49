"""Residual knowledge distillation with a teacher assistant (RIM's recognition sub-net).

A frozen teacher T (e.g. an HR-trained IResNet-50) and two trainable nets of the
student architecture, the student S and the assistant A, all expose K "blocks":
the backbone's intermediate block outputs followed by its embedding
(``models.residual_assisted.distillation_blocks``). With T_k, S_k, A_k the k-th block features:

  student loss:    L_S = mean (S_K - T_K)^2                        (last block only)
  assistant loss:  L_A = sum_k w_k mean (A_k - sg(T_k - S_k))^2     (every block)

(sg = stop-gradient: the teacher is frozen and the assistant learns the residual
the student leaves, without pulling the student). At inference the embedding is
S_K + A_K (``lrfr_tf.models.residual_assisted.ResidualAssistedStudent``), which approximates
the teacher's T_K.
"""

from __future__ import annotations

from typing import Optional, Sequence

import keras
import tensorflow as tf

from lrfr_tf.losses.loss_registry import LOSSES

_PACKAGE = "lrfr_tf"


def _check_blocks(reference: Sequence, other: Sequence, what: str):
    if len(reference) != len(other):
        raise ValueError(f"residual distillation: teacher has {len(reference)} blocks, {what} has {len(other)}")
    for k, (t, o) in enumerate(zip(reference, other)):
        if t.shape[1:] != o.shape[1:]:
            raise ValueError(
                f"residual distillation: block {k} of the teacher has shape {t.shape}, of the {what} {o.shape}; "
                "use a student of the teacher's block widths or distill the embeddings only (blocks[-1:])"
            )


def _mse(a, b):
    return tf.reduce_mean(tf.square(tf.cast(a, tf.float32) - tf.cast(b, tf.float32)))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ResidualDistillationLoss:
    """``loss(teacher_blocks, student_blocks, assistant_blocks=None)`` -> {"student": L_S, "assistant": L_A}.

    Args:
      block_weights: w_k for the assistant loss (default 1 for every block).
    """

    def __init__(self, block_weights: Optional[Sequence[float]] = None, name: str = "residual_distillation"):
        self.block_weights = None if block_weights is None else [float(w) for w in block_weights]
        self.name = name

    def __call__(self, teacher_blocks, student_blocks, assistant_blocks=None):
        _check_blocks(teacher_blocks, student_blocks, "student")
        teacher = [tf.stop_gradient(tf.cast(t, tf.float32)) for t in teacher_blocks]
        losses = {"student": _mse(student_blocks[-1], teacher[-1])}
        if assistant_blocks is not None:
            _check_blocks(teacher_blocks, assistant_blocks, "assistant")
            weights = self.block_weights or [1.0] * len(teacher)
            if len(weights) != len(teacher):
                raise ValueError(f"block_weights has {len(weights)} entries for {len(teacher)} blocks")
            losses["assistant"] = tf.add_n(
                [
                    w * _mse(a, t - tf.stop_gradient(tf.cast(s, tf.float32)))
                    for w, t, s, a in zip(weights, teacher, student_blocks, assistant_blocks)
                ]
            )
        return losses

    def get_config(self):
        return {"block_weights": self.block_weights, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


LOSSES.register("residual_distillation")(ResidualDistillationLoss)
