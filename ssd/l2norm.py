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
        return l2_normalize(x, self.weight, self.eps)


def l2_normalize(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Eq. 3.1 as a function: weight [C], x [N,C,...] -> [N,C,...]. The norm is
    `torch.linalg.vector_norm`, whose gradient at x = 0 is 0 (sqrt(Σx²) would give inf·0 = NaN),
    so gradients through all-zero locations stay finite."""
    norm = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    return weight.view(1, -1, *([1] * (x.dim() - 2))) * x / (norm + eps)
