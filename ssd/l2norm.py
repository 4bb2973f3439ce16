"""The ℓ2-Norm layer of SSD (paper eq. 3.1)."""
import torch
from torch import nn


class L2Norm(nn.Module):
    """Channel-wise ℓ2 normalisation with a learned scale per channel (eq. 3.1).

        y[n,c,h,w] = α_c · x[n,c,h,w] / (sqrt(Σ_i x[n,i,h,w]²) + eps)

    `weight` holds α (one value per channel, initialised to 20 as in SSD); eps = 1e-10 as in the
    Caffe and lufficc code. Shapes: x [N,C,H,W] -> y [N,C,H,W].
    """

    def __init__(self, channels: int, scale: float = 20.0, eps: float = 1e-10):
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + self.eps
        return self.weight.view(1, -1, 1, 1) * x / norm
