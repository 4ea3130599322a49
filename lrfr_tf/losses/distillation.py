"""Residual knowledge distillation with a teacher assistant (RIM's recognition sub-net).

A frozen teacher T (e.g. an HR-trained IResNet-50) and two trainable nets of the
student architecture, the student S and the assistant A, all expose K "blocks":
the backbone's intermediate block outputs followed by its embedding
(``distillation_blocks``). With T_k, S_k, A_k the k-th block features:

  student loss:    L_S = mean (S_K - T_K)^2                        (last block only)
  assistant loss:  L_A = sum_k w_k mean (A_k - sg(T_k - S_k))^2     (every block)

(sg = stop-gradient: the teacher is frozen and the assistant learns the residual
the student leaves, without pulling the student). At inference the embedding is
S_K + A_K (``ResidualAssistedStudent``), which approximates the teacher's T_K.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import keras
import tensorflow as tf

from lrfr_tf.losses.registry import LOSSES

_PACKAGE = "lrfr_tf"


def distillation_blocks(backbone, images, training=None) -> List[tf.Tensor]:
    """[block outputs..., embedding] of a backbone exposing ``call_with_blocks``."""
    embedding, blocks = backbone.call_with_blocks(images, training=training)
    return list(blocks) + [embedding]


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


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ResidualAssistedStudent(keras.Model):
    """Student + teacher assistant; ``model(images)`` is the inference embedding S_K + A_K.

    Args:
      student, assistant: backbones with ``call_with_blocks`` (usually the same
        architecture, e.g. two IResNet-34 for an IResNet-50 teacher: the block
        widths of the IResNets match, so every block can be distilled); both take
        the same normalised input.
      teacher_embedding_dim: when the teacher's embedding size differs from the
        student's, a learned linear map on the student's and on the assistant's
        embedding brings each to it (trained by L_S and L_A respectively).
        Intermediate blocks are never projected: with a teacher of other widths,
        distill the embeddings only (pass ``blocks[-1:]`` to the loss).
    """

    def __init__(self, student, assistant, teacher_embedding_dim: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(student, dict):
            student = keras.saving.deserialize_keras_object(student)
        if isinstance(assistant, dict):
            assistant = keras.saving.deserialize_keras_object(assistant)
        for role, net in (("student", student), ("assistant", assistant)):
            if not hasattr(net, "call_with_blocks"):
                raise ValueError(f"ResidualAssistedStudent: the {role} {type(net).__name__} has no call_with_blocks")
        self.student = student
        self.assistant = assistant
        self.teacher_embedding_dim = None if teacher_embedding_dim is None else int(teacher_embedding_dim)
        if self.teacher_embedding_dim is None:
            self.student_adapter = self.assistant_adapter = None
        else:
            self.student_adapter = keras.layers.Dense(self.teacher_embedding_dim, name="student_adapter")
            self.assistant_adapter = keras.layers.Dense(self.teacher_embedding_dim, name="assistant_adapter")

    def build(self, input_shape):
        size = self.student.preprocessing.size
        shape = [1 if input_shape[0] is None else input_shape[0]]
        shape += [s if d is None else d for d, s in zip(input_shape[1:3], size)] + [input_shape[-1]]
        self.call(tf.zeros(shape, tf.float32))

    @property
    def preprocessing(self):
        return self.student.preprocessing

    @property
    def embedding_dim(self):
        return self.teacher_embedding_dim or self.student.embedding_dim

    @staticmethod
    def _adapt(blocks, adapter):
        return blocks if adapter is None else blocks[:-1] + [adapter(blocks[-1])]

    def call_with_blocks(self, images, training=None):
        """(student blocks, assistant blocks), each [block outputs..., embedding] (see ``distillation_blocks``)."""
        student = self._adapt(distillation_blocks(self.student, images, training), self.student_adapter)
        assistant = self._adapt(distillation_blocks(self.assistant, images, training), self.assistant_adapter)
        return student, assistant

    def call(self, images, training=None):
        student = self.student(images, training=training)
        assistant = self.assistant(images, training=training)
        if self.teacher_embedding_dim is not None:
            student, assistant = self.student_adapter(student), self.assistant_adapter(assistant)
        return student + assistant

    def get_config(self):
        config = super().get_config()
        config.update(
            student=keras.saving.serialize_keras_object(self.student),
            assistant=keras.saving.serialize_keras_object(self.assistant),
            teacher_embedding_dim=self.teacher_embedding_dim,
        )
        return config


LOSSES.register("residual_distillation")(ResidualDistillationLoss)
