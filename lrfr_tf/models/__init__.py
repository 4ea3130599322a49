"""Backbones, margin heads, super-resolution nets and the composite embedders (Keras models).

Importing this package registers every model in its registry (``create_backbone("iresnet50")``)
and every serializable class with Keras, so any ``.keras`` file the toolkit writes loads after
``import lrfr_tf.models``.
"""

from lrfr_tf.models.model_registry import BACKBONES, HEADS, SR_NETS, create_backbone, create_head, create_sr_net

# Each module registers its models (BACKBONES, HEADS, SR_NETS) and Keras classes on import.
from lrfr_tf.models import iresnet, mobilefacenet, sphereface  # noqa: F401,E402
from lrfr_tf.models import heads  # noqa: F401,E402
from lrfr_tf.models import srnet  # noqa: F401,E402
from lrfr_tf.models import ip_unet  # noqa: F401,E402
from lrfr_tf.models import hallucination  # noqa: F401,E402
from lrfr_tf.models import residual_assisted, super_resolved  # noqa: F401,E402
