"""Networks (plain ``nn.Module``s) and their registry.

Every network is a :class:`~prunescope.models.contract.Network`: ``task`` (``"segmentation"`` |
``"classification"``), ``cam_target_layer`` (dotted module path, resolvable with ``net.get_submodule``),
``output_layer_names`` (modules never pruned) and ``channel_ties()`` (pairs of conv names whose output channels must
be pruned with the same indices); :func:`~prunescope.models.contract.check_network` checks it where one is built.
"""

from torch import nn

from prunescope.models.contract import Network, NetworkContractError, check_network
from prunescope.models.deeplabv3plus import DeepLabV3Plus
from prunescope.models.segnet import SegNet
from prunescope.models.smp_unet import SmpUnet
from prunescope.models.unet import UNet
from prunescope.models.vgg16 import VGG16

MODELS: dict[str, type[nn.Module]] = {
    "unet": UNet,
    "smp_unet": SmpUnet,
    "deeplabv3plus": DeepLabV3Plus,
    "segnet": SegNet,
    "vgg16": VGG16,
}


def build_model(name: str, **kwargs: object) -> nn.Module:
    """Build the network registered as ``name`` with constructor keyword arguments ``kwargs``.

    Raises:
        ValueError: If ``name`` is not in ``MODELS``.
        NetworkContractError: The network lacks a member of :class:`~prunescope.models.contract.Network`.
    """
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; valid names: {', '.join(sorted(MODELS))}")
    net = MODELS[name](**kwargs)
    check_network(net)
    return net


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
]
