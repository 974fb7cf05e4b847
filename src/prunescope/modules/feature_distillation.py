r"""Feature-map distillation at the pruned layers: the student's conv outputs, through a learned 1×1 adapter, are
pulled towards the frozen baseline's outputs of the same layers.

.. math::

    L_{feat} = \frac{1}{|\mathcal{L}|} \sum_{l \in \mathcal{L}} \operatorname{MSE}\big(A_l(S_l),\, T_l\big)

``S_l`` ``(N, C'_l, H, W)``: the student's output of conv ``l`` (``nn.Conv2d`` or ``nn.ConvTranspose2d``); ``T_l`` ``(N, C_l, H, W)``: the teacher's (the
unpruned baseline, frozen); ``A_l``: a 1×1 convolution ``C'_l → C_l`` without bias, initialised to put student
channel ``j`` where it came from, ``A_l[k_j, j] = 1`` (``k_j``: the baseline index of the kept channel ``j``) and 0
elsewhere, so that at the start it only has to learn the removed channels; default (Kaiming) initialisation when
the indices are not known. MSE is the mean over all elements, computed in fp32. The fine-tune's loss adds
``feature_weight · L_feat`` (:class:`prunescope.modules.task_module.TaskModule`).

The adapters are trained with the student (the fine-tune's optimizer holds them) and are no part of the network:
they are not in ``module.net`` nor in the module's ``state_dict``, so the pruned model, its parameter count,
checkpoints' weights and exports never contain them. One object owns its forward hooks on both networks and removes
them in :meth:`FeatureDistillation.release`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.hooks import RemovableHandle

FEATURE_LAYERS = (nn.Conv2d, nn.ConvTranspose2d)
"""The layers whose output maps can be distilled: 2-D convolutions (an up-convolution too), ``(N, C, H, W)``."""


def is_feature_layer(module: nn.Module | None) -> bool:
    """Whether ``module`` is one of :data:`FEATURE_LAYERS`."""
    return isinstance(module, FEATURE_LAYERS)


def adapter_key(layer: str) -> str:
    """``nn.ModuleDict`` key of a layer name (``ModuleDict`` keys may not contain dots)."""
    return layer.replace(".", "/")


def identity_adapter(student_channels: int, teacher_channels: int, kept: Sequence[int] | None) -> nn.Conv2d:
    """A 1×1 conv ``student_channels → teacher_channels`` without bias: ``W[kept[j], j] = 1`` (else 0) when ``kept``
    gives one distinct baseline index in range per student channel, else PyTorch's default initialisation."""
    adapter = nn.Conv2d(student_channels, teacher_channels, kernel_size=1, bias=False)
    indices = [int(k) for k in kept] if kept is not None else []
    valid = (
        len(indices) == student_channels
        and len(set(indices)) == len(indices)
        and all(0 <= k < teacher_channels for k in indices)
    )
    if valid:
        with torch.no_grad():
            adapter.weight.zero_()
            adapter.weight[indices, list(range(student_channels)), 0, 0] = 1.0
    return adapter


class FeatureDistillation:
    """Hooks, adapters and the loss :math:`L_{feat}` (module docstring) for a set of conv layers.

    Args:
        student: the network being fine-tuned; its conv ``l`` output is captured on training forwards (module in
            training mode, gradients enabled).
        teacher: the frozen baseline network (a module of the same names; kept in eval mode by its owner).
        channels: layer name → the baseline index of each of the student layer's output channels (``None``: not
            known, the adapter gets the default initialisation). Every name must be one of :data:`FEATURE_LAYERS`
            in both nets.
        initial: layer name → adapter weight ``(C_l, C'_l, 1, 1)`` to start from (a resumed fine-tune, or the
            adapter of the previous pruning step with its columns selected); used when its shape fits.

    Raises:
        ValueError: a layer is missing, or is no 2-D convolution, in either network; or ``channels`` is empty.
    """

    def __init__(
        self,
        student: nn.Module,
        teacher: nn.Module,
        channels: Mapping[str, Sequence[int] | None],
        initial: Mapping[str, torch.Tensor] | None = None,
    ) -> None:
        if not channels:
            raise ValueError("feature distillation needs at least one layer")
        student_modules, teacher_modules = dict(student.named_modules()), dict(teacher.named_modules())
        self.layers = list(channels)
        self.adapters = nn.ModuleDict()
        self._student: dict[str, torch.Tensor] = {}
        self._teacher: dict[str, torch.Tensor] = {}
        self._handles: list[RemovableHandle] = []
        initial = initial or {}
        for name in self.layers:
            pair = (student_modules.get(name), teacher_modules.get(name))
            if not all(is_feature_layer(layer) for layer in pair):
                raise ValueError(
                    f"feature distillation: layer {name!r} is not a 2-D convolution (nn.Conv2d or "
                    "nn.ConvTranspose2d) in both the student and the teacher"
                )
            student_layer, teacher_layer = pair
            assert isinstance(student_layer, FEATURE_LAYERS) and isinstance(teacher_layer, FEATURE_LAYERS)
            adapter = identity_adapter(student_layer.out_channels, teacher_layer.out_channels, channels[name])
            start = initial.get(name)
            if start is not None and tuple(start.shape) == tuple(adapter.weight.shape):
                with torch.no_grad():
                    adapter.weight.copy_(start)
            self.adapters[adapter_key(name)] = adapter.to(student_layer.weight.device)
        try:
            for name in self.layers:
                self._handles.append(
                    student_modules[name].register_forward_hook(self._capture(self._student, name, True))
                )
                self._handles.append(
                    teacher_modules[name].register_forward_hook(self._capture(self._teacher, name, False))
                )
        except BaseException:
            self.release()
            raise

    @staticmethod
    def _capture(store: dict[str, torch.Tensor], name: str, training_only: bool) -> Any:
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            if training_only and not (module.training and torch.is_grad_enabled()):
                return  # validation, test, CAMs and statistics passes are not distilled
            store[name] = output

        return hook

    def parameters(self) -> Iterator[nn.Parameter]:
        """The adapters' parameters (trained with the student)."""
        return self.adapters.parameters()

    def adapter_weights(self) -> dict[str, torch.Tensor]:
        """Layer name → a CPU copy of its adapter's weight ``(C_l, C'_l, 1, 1)``."""
        return {name: self.adapters[adapter_key(name)].weight.detach().cpu().clone() for name in self.layers}

    def loss(self) -> torch.Tensor:
        """:math:`L_{feat}` from the maps captured by the last training forward of the student and the teacher's
        forward on the same batch; the captured maps are dropped.

        Raises:
            RuntimeError: a layer's map was not captured by one of the two forwards.
        """
        missing = [name for name in self.layers if name not in self._student or name not in self._teacher]
        if missing:
            self._student.clear()
            self._teacher.clear()
            raise RuntimeError(
                f"feature distillation: no captured maps for layers {missing}; the student's training forward and "
                "the teacher's forward on the same batch must both run before the loss"
            )
        terms = []
        for name in self.layers:
            student, teacher = self._student[name], self._teacher[name]
            adapter = self.adapters[adapter_key(name)].to(student.device)
            with torch.autocast(device_type=student.device.type, enabled=False):  # fp32 adapter and MSE
                terms.append(F.mse_loss(adapter(student.float()), teacher.detach().float()))
        self._student.clear()
        self._teacher.clear()
        return torch.stack(terms).mean()

    def release(self) -> None:
        """Remove every hook and drop captured maps (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._student.clear()
        self._teacher.clear()
