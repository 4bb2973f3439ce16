"""Training with BatchNorm after every convolution of the body, folded away for export.

During training, `BatchNormSSD` runs an `ssd.SSD` whose body convolutions (not the heads) are each
followed by a BatchNorm2d (applied by a forward hook, so module names stay those of `ssd.SSD`).
`fold()` returns a plain `ssd.SSD` with the same function in eval mode:

    BN(conv(x)) = γ (W*x + b − μ) / √(σ² + ε) + β  =  W'*x + b',
    W' = W · γ/√(σ² + ε),   b' = (b − μ) · γ/√(σ² + ε) + β

so the shipped model is exactly conv / ReLU / max-pool / ℓ2-Norm.
"""
import torch
from torch import nn

from .model import SSD


def body_convolutions(model: SSD) -> dict:
    """{name: Conv2d} of the convolutions in `model.features` (the heads are not included)."""
    return {f"features.{name}": m for name, m in model.features.named_modules() if isinstance(m, nn.Conv2d)}


class BatchNormSSD(nn.Module):
    """`ssd` with a BatchNorm2d after each body convolution; forward as `ssd.SSD`."""

    def __init__(self, ssd: SSD):
        super().__init__()
        self.ssd = ssd
        convs = body_convolutions(ssd)
        self.norms = nn.ModuleDict({n.replace(".", "/"): nn.BatchNorm2d(c.out_channels) for n, c in convs.items()})
        for name, conv in convs.items():
            conv.register_forward_hook(self._hook(name.replace(".", "/")))

    def _hook(self, key: str):
        return lambda module, inputs, output: self.norms[key](output)

    @property
    def config(self):
        return self.ssd.config

    def forward(self, x: torch.Tensor):
        return self.ssd(x)

    @torch.no_grad()
    def fold(self) -> SSD:
        """A plain `ssd.SSD` (eval mode, on the CPU) computing what this model computes in eval mode."""
        folded = SSD(self.ssd.config)
        state = {k: v.detach().cpu().clone() for k, v in self.ssd.state_dict().items()}
        for name, conv in body_convolutions(self.ssd).items():
            bn = self.norms[name.replace(".", "/")]
            scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).cpu()
            bias = conv.bias.cpu() if conv.bias is not None else torch.zeros_like(scale)
            state[name + ".weight"] = conv.weight.cpu() * scale.view(-1, 1, 1, 1)
            state[name + ".bias"] = (bias - bn.running_mean.cpu()) * scale + bn.bias.cpu()
        folded.load_state_dict(state)
        return folded.eval()
