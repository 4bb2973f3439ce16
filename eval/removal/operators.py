"""How pixels are removed: the operators behind every removal curve and the operator-fidelity table.

An operator turns the model input x [1,3,H,W] and a batch of removal masks [B,H,W] (True = removed)
into perturbed inputs [B,3,H,W]; kept pixels are never changed.

- `grey`     removed pixels set to 0 in model input, the data set's mean colour (the paper's choice);
- `blur`     removed pixels take the Gaussian-blurred image (σ 12, 80×80: DeepLIFT's reference);
- `inpaint`  removed pixels are filled from the kept pixels around them, smoothly, without new edges
             (push-pull: averages of the kept pixels over a pyramid of 2×2 blocks, filled in from the
             coarsest level up, then Laplace smoothing of the filled pixels; batched torch, CUDA too;
             scikit-image's biharmonic inpainting takes seconds per 512×512 image);
- `true`     (synthetic data only) removed pixels take the value they have when no object is painted:
             the generator renders the image without its objects (same draws, same sensor noise),
             so removing a background pixel changes nothing and removing an object pixel reveals
             exactly what lies behind it. This is the ground truth the others are measured against.

`grey`, `blur` and `true` are *pointwise*: the perturbed input is lerp(fill, x, keep) with a fixed
image `fill`, so a removal that differs from another only where fill == x gives the same input
(`changes` tells where). `inpaint` depends on the whole mask.
"""
import torch
import torch.nn.functional as F

OPERATORS = ("grey", "blur", "inpaint", "true")


class Removal:
    """A removal operator bound to one image x [1,3,H,W] (see the module docstring)."""

    name = ""
    pointwise = True

    def __init__(self, x: torch.Tensor):
        if x.dim() != 4 or x.shape[0] != 1:
            raise ValueError(f"a removal operator works on one image x [1,3,H,W], got {tuple(x.shape)}")
        self.x = x
        self.fill = self.make_fill(x) if self.pointwise else None

    def make_fill(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def changes(self) -> torch.Tensor:
        """bool [H,W]: where removing a pixel can change the input (all pixels if not pointwise)."""
        if not self.pointwise:
            return torch.ones(self.x.shape[2:], dtype=torch.bool, device=self.x.device)
        return (self.fill != self.x)[0].any(dim=0)

    def __call__(self, removed: torch.Tensor) -> torch.Tensor:
        """Perturbed inputs [B,3,H,W] for removal masks bool [B,H,W] (or [H,W])."""
        removed = removed[None] if removed.dim() == 2 else removed
        if removed.shape[1:] != self.x.shape[2:]:
            raise ValueError(f"removal masks {tuple(removed.shape)} do not match the image {tuple(self.x.shape)}")
        keep = (~removed).to(self.x.dtype)[:, None]                               # [B,1,H,W]
        if self.pointwise:
            return torch.lerp(self.fill.expand(len(keep), -1, -1, -1), self.x.expand(len(keep), -1, -1, -1), keep)
        return self.fill_in(keep)

    def fill_in(self, keep: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class Grey(Removal):
    """Removed pixels = 0 in model input (the data set's mean grey), the paper's operator."""

    name = "grey"

    def make_fill(self, x):
        return torch.zeros_like(x)


class Blur(Removal):
    """Removed pixels = the Gaussian-blurred image (σ 12, 80×80), DeepLIFT's reference."""

    name = "blur"

    def make_fill(self, x):
        import deeplift
        return deeplift.blur(x)


class TrueRemoval(Removal):
    """Removed pixels = the image rendered without its objects (`background` [1,3,H,W], model input)."""

    name = "true"

    def __init__(self, x: torch.Tensor, background: torch.Tensor):
        if background is None:
            raise ValueError("true removal needs the image rendered without its objects: "
                             "only the synthetic data has it (use grey, blur or inpaint on COCO)")
        if background.shape != x.shape:
            raise ValueError(f"background {tuple(background.shape)} does not match the image {tuple(x.shape)}")
        self.background = background.to(device=x.device, dtype=x.dtype)
        super().__init__(x)

    def make_fill(self, x):
        return self.background


class Inpaint(Removal):
    """Removed pixels filled from the kept ones: push-pull over a 2×2 pyramid, then `smoothing`
    Jacobi steps of the Laplace equation on the removed pixels (kept pixels fixed). A constant image
    is filled with its constant; an image with nothing kept is filled with grey (0)."""

    name = "inpaint"
    pointwise = False
    smoothing = 8

    def fill_in(self, keep: torch.Tensor) -> torch.Tensor:
        x = self.x.expand(len(keep), -1, -1, -1)
        filled = push_pull(x, keep)
        for _ in range(self.smoothing):      # mean of the 4 neighbours (replicated border) where removed
            p = F.pad(filled, (1, 1, 1, 1), mode="replicate")
            mean = (p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]) * 0.25
            filled = torch.lerp(mean, x, keep)
        return filled


def push_pull(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """x [B,C,H,W] with the pixels where keep [B,1,H,W] = 0 filled by push-pull interpolation.

    Pull (down): at each level the mean of the kept values over 2×2 blocks, v_{l+1} = pool(v_l·w_l),
    w_{l+1} = pool(w_l) (share of kept pixels). Push (up): e_l = v_l/w_l where w_l > 0 … blended as
    e_l = m_l + (1 − w_l)·up(e_{l+1}), m_l = pool-weighted mean; at level 0 kept pixels keep x."""
    values, weights = [x * keep], [keep]
    while min(values[-1].shape[-2:]) > 1:
        v, w = values[-1], weights[-1]
        values.append(F.avg_pool2d(v, 2, ceil_mode=True))
        weights.append(F.avg_pool2d(w, 2, ceil_mode=True))
    coarse = values[-1] / weights[-1].clamp_min(1e-12) * (weights[-1] > 0)
    for v, w in zip(reversed(values[:-1]), reversed(weights[:-1])):
        up = F.interpolate(coarse, size=v.shape[-2:], mode="bilinear", align_corners=False)
        mean = v / w.clamp_min(1e-12)
        coarse = torch.where(w > 0, w * mean + (1 - w) * up, up)
    return torch.lerp(coarse, x, keep)


def operators(names, x: torch.Tensor, background: torch.Tensor | None = None) -> dict:
    """{name: Removal} for the names (OPERATORS), bound to x [1,3,H,W]; `true` needs `background`."""
    unknown = [n for n in names if n not in OPERATORS]
    if unknown:
        raise ValueError(f"unknown removal operator(s) {', '.join(unknown)}: choose from {', '.join(OPERATORS)}")
    make = {"grey": Grey, "blur": Blur, "inpaint": Inpaint, "true": lambda x: TrueRemoval(x, background)}
    return {n: make[n](x) for n in names}
