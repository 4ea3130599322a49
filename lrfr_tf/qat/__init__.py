"""Int8 routes beyond post-training conversion: quantisation-aware training (QAT) of a tf_keras twin and
ai-edge-quantizer static int8 of an existing .tflite (issue 11, item 5).

Two environments (tensorflow-model-optimization needs tf_keras and absl-py 1.x, Keras 3 cannot share its
process): the main one describes the source model and gates the result (``describe``, ``dataset``,
``gate``, ``aeq``), the ``qat`` one trains and converts (``twin``, ``train``). They exchange files
(``twin_spec``). Importing this package imports nothing heavy; nothing here imports tf_keras or tfmot at
import time (tested). Command lines: ``python -m lrfr_tf.qat --help``.
"""
