"""Degradation ops that simulate low-resolution cameras, all in TensorFlow.

Images are float32 RGB in [0, 255], shape [H, W, C] (one sample) or [B, H, W, C].
Every random choice is drawn with stateless TF random ops from a per-sample seed
(shape [2], int64), so an op gives identical results eagerly, inside
``tf.function`` and inside ``tf.data``, and is deterministic given the seed.

Ops are registered by name in ``OPS`` and composed with ``parse`` (a short spec
string) or ``build`` (a config list)::

    deg = parse("blur(0.5, 1.5)|resolution(sizes=[7,14,20], probs=[1,1,2])|jpeg(30,90)|resize()")
    lr = deg(image, seed)                    # one sample, or a batch with per-sample seeds
    ds = make_dataset(src, 64, seed=0, map_fn=deg.map_fn())   # adds "lr", keeps "image" as HR

Spec grammar (no ``eval``)::

    spec  := op ("|" op)*            ops run left to right
    op    := NAME ["(" [arg ("," arg)*] ")"]
    arg   := value | NAME "=" value  positional arguments first
    value := INT | FLOAT | HxW | NAME | 'text' | "text" | "[" [value ("," value)*] "]"

``HxW`` (e.g. ``11x8``) is a size, height x width; bare names are strings except
``true``/``false``/``none``. A preset name (``PRESETS``) is also a spec.

Linear ops (``crop``, ``blur``, ``resolution``, ``resize``) are separable
resamplings. Consecutive ones are fused into one matrix product per axis (the
resize matrices are TF's own kernels, read off ``tf.image.resize`` once per size
and looked up per sample), so e.g. a lens blur costs one small matrix product
instead of a convolution; a lone resize without antialiasing runs as
``tf.image.resize`` (faster than the product; TF's antialiased resize is not). The result
is clipped to [0, 255] once per run of linear ops, so bicubic overshoot at the low size
is kept. ``Degradation(ops, fuse=False)`` runs every resolution and resize op as its own
``tf.image.resize`` instead (to 2e-3 grey levels the same pixels): the arithmetic of the
evaluation harness (``lrfr_tf.eval.degradation.ResolutionDegradation``), on whole batches
when every op is a fixed-size resize.

Modules: ``common`` (kernels, the op registry, presets, seed and size helpers), ``samplers`` (resolution
samplers), ``resampling`` (TF's resize kernels as matrices, fused separable products), ``ops`` (the registered
ops), ``composition`` (``Degradation``, ``PairedViews``, ``BatchMix``) and ``spec`` (``parse``, ``build``).
"""

from lrfr_tf.data.degrade.common import (  # noqa: F401
    KERNELS, OPS, PRESETS, SIZE_PRESETS,
)
from lrfr_tf.data.degrade.samplers import (  # noqa: F401
    DiscreteSizes, FixedSize, SizeRange, make_sampler,
)
from lrfr_tf.data.degrade.resampling import (  # noqa: F401
    Size, Stage, apply_separable, resize_matrix, resize_table,
)
from lrfr_tf.data.degrade.ops import (  # noqa: F401
    GaussianBlur, GaussianNoise, JpegCompression, LinearOp, Op, PoissonNoise, RandomCrop, RandomFlip, Resize,
    Resolution, flip_horizontal,
)
from lrfr_tf.data.degrade.composition import (  # noqa: F401
    BatchMix, Degradation, PairedViews,
)
from lrfr_tf.data.degrade.spec import (  # noqa: F401
    build, parse,
)
