"""Networks (plain ``nn.Module``s) and their registry.

Every network is a :class:`~prunescope.models.contract.Network`: ``task`` (``"segmentation"`` |
``"classification"``), ``cam_target_layer`` (dotted module path, resolvable with ``net.get_submodule``),
``output_layer_names`` (modules never pruned) and ``channel_ties()`` (pairs of conv names whose output channels must
be pruned with the same indices); :func:`~prunescope.models.contract.check_network` checks it where one is built.
Each network class registers itself in ``MODELS`` with ``@register_model(name)``; every module of this package is
imported here, so a new file needs no import.
"""

import importlib
import pkgutil

from prunescope.models.contract import Network, NetworkContractError, check_network
from prunescope.models.registry import MODELS, build_model, models_for, register_model

# The import order is the registration order: MODELS lists the networks in it.
# isort: off
from prunescope.models.unet import UNet
from prunescope.models.smp_unet import SmpUnet
from prunescope.models.deeplabv3plus import DeepLabV3Plus
from prunescope.models.segnet import SegNet
from prunescope.models.vgg16 import VGG16
# isort: on

for _module in pkgutil.iter_modules(__path__):  # networks added as new files register after the built-in ones
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "MODELS",
    "DeepLabV3Plus",
    "Network",
    "NetworkContractError",
    "SegNet",
    "SmpUnet",
    "UNet",
    "VGG16",
    "build_model",
    "check_network",
    "models_for",
    "register_model",
]
