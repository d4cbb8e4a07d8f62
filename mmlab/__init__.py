"""mmlab: multimodal large models from first principles.

The package the course notebooks share. Import the part you need, e.g.
``from mmlab.train import Trainer`` or ``from mmlab.device import get_device``.
"""

import os

# Gradio reports usage to its servers unless told not to; the course never phones home.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

__version__ = "0.1.0"

from mmlab.i18n import get_language, set_language  # noqa: E402  (the Chinese notebooks' first call)

__all__ = ["get_language", "set_language"]
