"""The student + teacher-assistant recognizer of residual distillation (RIM's HRN).

``model(images)`` is the inference embedding S_K + A_K of a student S and an assistant A trained
with ``lrfr_tf.losses.distillation.ResidualDistillationLoss`` against a frozen teacher; the
blocks each network exposes are ``distillation_blocks`` (its stage outputs, then its embedding).
"""

from __future__ import annotations

from typing import List, Optional

import keras
import tensorflow as tf

from lrfr_tf.models.layers import zeros_input


def distillation_blocks(backbone, images, training=None) -> List[tf.Tensor]:
    """[block outputs..., embedding] of a backbone exposing ``call_with_blocks``."""
    embedding, blocks = backbone.call_with_blocks(images, training=training)
    return list(blocks) + [embedding]


@keras.saving.register_keras_serializable(package="lrfr_tf")
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
        self.call(zeros_input(input_shape, self.student.preprocessing.size))

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
