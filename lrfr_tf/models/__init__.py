"""Backbones, margin heads and super-resolution nets (Keras subclassed models).

Importing this package registers every model: ``create_backbone("iresnet50")``.
"""

from lrfr_tf.models.registry import BACKBONES, HEADS, SR_NETS, create_backbone, create_head, create_sr_net

# Backbones (each module registers its models in BACKBONES).
from lrfr_tf.models import iresnet, mobilefacenet, sphereface  # noqa: F401,E402
from lrfr_tf.models import heads  # noqa: F401,E402
from lrfr_tf.models import srnet  # noqa: F401,E402
from lrfr_tf.models import ip_unet  # noqa: F401,E402
from lrfr_tf.models import hallucination  # noqa: F401,E402
