"""Test helper (not a test module): a LINEAR detector with the SSD's interface, small enough that
every explanation of it can be computed by hand.

Input 16×16 (float64); one source of 2×2 locations (step 8), A = 2 priors per location (squares of 6 and
√48 ≈ 6.9 pixels, inside their own quadrant), C = 3 classes; no biases:

    source   S = body(x):  S[c,h,w] = Σ_c' B[c,c'] x[c',h,w]                       (1×1 conv, 3 -> 2)
    logits   z(i,j,a)[l] = Σ_{c,u,v} Wc[a·C+l, c, u, v] S[c, 8i+u, 8j+v]           (8×8 conv, stride 8)
    deltas   d(i,j,a)[m] = Σ_{c,u,v} Wb[a·4+m, c, u, v] S[c, 8i+u, 8j+v]

so the prior at location (i, j) sees exactly its quadrant of the image, and the gradient of any
target with respect to x is Σ_c W[·, c, u, v] B[c, c'] on that quadrant (`input_gradient`).
"""
import torch
from torch import nn

import ssd
from ssd.targets import terms

CONFIG = ssd.SSDConfig(size=16, class_names=("background", "a", "b"), extras=(), feature_maps=(2,), steps=(8,),
                       min_sizes=(6.0,), max_sizes=(8.0,), aspect_ratios=((),))
A, C = 2, 3


class ToyDetector(nn.Module):
    def __init__(self, seed: int = 0):
        super().__init__()
        self.config = CONFIG
        g = torch.Generator().manual_seed(seed)
        self.body = nn.Conv2d(3, 2, 1, bias=False)
        self.cls_heads = nn.ModuleList([nn.Conv2d(2, A * C, 8, stride=8, bias=False)])
        self.box_heads = nn.ModuleList([nn.Conv2d(2, A * 4, 8, stride=8, bias=False)])
        with torch.no_grad():
            for conv in (self.body, self.cls_heads[0], self.box_heads[0]):
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g))
        self.double()

    def sources(self, x):
        return [self.body(x)]

    def forward(self, x):
        n, (source,) = x.shape[0], self.sources(x)
        logits = self.cls_heads[0](source).permute(0, 2, 3, 1).reshape(n, -1, C)
        deltas = self.box_heads[0](source).permute(0, 2, 3, 1).reshape(n, -1, 4)
        return logits, deltas


def weights_of(model: ToyDetector, target) -> torch.Tensor:
    """The head weights [2,8,8] (source channel, u, v) of a target: its terms' kernels, weighted."""
    _, _, _, a = ssd.prior_location(CONFIG, target.prior)
    heads = (model.cls_heads[0].weight, model.box_heads[0].weight)
    width = (C, 4)
    return sum(w * heads[out][a * width[out] + ch] for out, ch, w in terms(target)).detach()


def input_gradient(model: ToyDetector, target) -> torch.Tensor:
    """∂s/∂x [3,16,16] of a target: Σ_c W[c,u,v] B[c,c'] on the prior's quadrant, 0 elsewhere."""
    _, i, j, _ = ssd.prior_location(CONFIG, target.prior)
    body = model.body.weight.detach()[:, :, 0, 0]                               # B [2,3]
    g = torch.zeros(3, 16, 16, dtype=body.dtype)
    g[:, 8 * i:8 * i + 8, 8 * j:8 * j + 8] = torch.einsum("cuv,cd->duv", weights_of(model, target), body)
    return g


def prior(i: int, j: int, a: int) -> int:
    """The index of the prior at location (i, j), box a."""
    return (i * 2 + j) * A + a
