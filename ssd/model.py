"""SSD with the reduced, dilated VGG16 body (Liu et al. 2016); layer table and sources in ssd/ssd512.md.

Module names follow the paper's layer names, so a rule or a hook can be attached by name:
`features.0.conv1_1` … `features.0.conv4_3` (source 1, through `l2norm`), `features.1.conv5_1` …
`features.1.fc7` (source 2), `features.2.conv6_1` … (one block per extra source), and the heads
`cls_heads.k` / `box_heads.k` for source k. Every convolution is followed by its own `nn.ReLU`
module so that explanation methods can hook each non-linearity separately.
"""
import math
from collections import OrderedDict

import torch
from torch import nn

from .config import SSDConfig
from .l2norm import L2Norm

# (name, out channels) of the VGG16 body up to conv4_3; "pool" entries are 2×2 max-pools.
_VGG_TO_CONV4_3 = (("conv1_1", 64), ("conv1_2", 64), ("pool1", 0), ("conv2_1", 128), ("conv2_2", 128),
                   ("pool2", 0), ("conv3_1", 256), ("conv3_2", 256), ("conv3_3", 256), ("pool3", 0),
                   ("conv4_1", 512), ("conv4_2", 512), ("conv4_3", 512))


def _conv_relu(layers: OrderedDict, name: str, cin: int, cout: int, **kw) -> int:
    layers[name] = nn.Conv2d(cin, cout, **kw)
    layers["relu" + name[4:] if name.startswith("conv") else "relu" + name[2:]] = nn.ReLU()  # fc6 -> relu6
    return cout


class SSD(nn.Module):
    """forward(x [N,3,S,S]) -> (logits [N,P,C], deltas [N,P,4]); logits are raw (before softmax),
    deltas are centre-size offsets relative to the priors (see ssd.boxes.decode)."""

    def __init__(self, config: SSDConfig):
        super().__init__()
        self.config = config
        ch = config.channels
        body, c = OrderedDict(), 3
        for name, out in _VGG_TO_CONV4_3:
            if name.startswith("pool"):
                body[name] = nn.MaxPool2d(2, 2, ceil_mode=(name == "pool3"))
            else:
                c = _conv_relu(body, name, c, ch(out), kernel_size=3, padding=1)
        source_channels = [c]
        fc = OrderedDict(pool4=nn.MaxPool2d(2, 2))
        for name in ("conv5_1", "conv5_2", "conv5_3"):
            c = _conv_relu(fc, name, c, ch(512), kernel_size=3, padding=1)
        fc["pool5"] = nn.MaxPool2d(3, 1, padding=1)
        c = _conv_relu(fc, "fc6", c, ch(1024), kernel_size=3, padding=6, dilation=6)
        c = _conv_relu(fc, "fc7", c, ch(1024), kernel_size=1)
        source_channels.append(c)
        blocks = [nn.Sequential(body), nn.Sequential(fc)]
        for i, (mid, out, k, s, p) in enumerate(config.extras):
            extra = OrderedDict()
            m = _conv_relu(extra, f"conv{i + 6}_1", c, ch(mid), kernel_size=1)
            c = _conv_relu(extra, f"conv{i + 6}_2", m, ch(out), kernel_size=k, stride=s, padding=p)
            blocks.append(nn.Sequential(extra))
            source_channels.append(c)
        self.features = nn.ModuleList(blocks)
        self.l2norm = L2Norm(source_channels[0])
        C = config.num_classes
        self.cls_heads = nn.ModuleList(nn.Conv2d(c, a * C, 3, padding=1)
                                       for c, a in zip(source_channels, config.boxes_per_location))
        self.box_heads = nn.ModuleList(nn.Conv2d(c, a * 4, 3, padding=1)
                                       for c, a in zip(source_channels, config.boxes_per_location))
        sides = self.source_sizes(config.size)
        if sides != tuple(config.feature_maps):
            raise ValueError(f"SSDConfig feature_maps {tuple(config.feature_maps)} do not fit size {config.size}: "
                             f"the network's sources are {sides} at {config.size}×{config.size} input")
        # Channels-last kernels make every activation channels-last (torch follows the weight's
        # layout), the fastest layout of oneDNN's CPU convolutions (forward passes 1.3-2x faster on
        # 2 cores, README "Cost") and of cuDNN's. Values are unchanged; the input stays as given.
        self.to(memory_format=torch.channels_last)

    def source_sizes(self, size: int) -> tuple[int, ...]:
        """The side of each source's feature map for input size×size, from the output-size formula of
        each convolution and max-pooling (torch's documentation), without a pass:
            out = ⌊(n + 2p − d(k − 1) − 1) / s⌋ + 1   (⌈⌉ for a pool in ceil mode, whose last window
            must start inside the input or its left padding). ≤ 0 where the input is too small."""
        sides, n = [], size
        for block in self.features:
            for layer in block:
                if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
                    k, s, p, d = (v if isinstance(v, int) else v[0] for v in
                                  (layer.kernel_size, layer.stride, layer.padding, layer.dilation))
                    ceil = getattr(layer, "ceil_mode", False)
                    span = (n + 2 * p - d * (k - 1) - 1) / s
                    out = (math.ceil(span) if ceil else math.floor(span)) + 1
                    n = out - 1 if ceil and (out - 1) * s >= n + p else out
            sides.append(n)
        return tuple(sides)

    def sources(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The feature maps the heads read: [N, C_k, F_k, F_k] for each source k."""
        out = []
        for i, block in enumerate(self.features):
            x = block(x)
            out.append(self.l2norm(x) if i == 0 else x)
        return out

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"SSD input must be [N,3,H,W], got shape {tuple(x.shape)}")
        n, C = x.shape[0], self.config.num_classes
        logits, deltas = [], []
        for src, cls_head, box_head in zip(self.sources(x), self.cls_heads, self.box_heads):
            # [N, A*K, H, W] -> [N, H, W, A*K] -> [N, H*W*A, K]: priors ordered row, column, box
            logits.append(cls_head(src).permute(0, 2, 3, 1).reshape(n, -1, C))
            deltas.append(box_head(src).permute(0, 2, 3, 1).reshape(n, -1, 4))
        return torch.cat(logits, dim=1), torch.cat(deltas, dim=1)
