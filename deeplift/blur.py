"""The blurred reference of DeepLIFT for images (paper section 3.2.2: σ = 12, 80×80 kernel)."""
import torch
import torch.nn.functional as F


def gaussian_kernel(sigma: float, size: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """1-D Gaussian taps at integer offsets −r … r, r = size // 2, normalised to sum 1: [2r+1].

    An even `size` (the paper's 80) gets 2r+1 = 81 taps, centred on the pixel, so that the blur
    does not shift the image by half a pixel.
    """
    if not sigma > 0:
        raise ValueError(f"blur sigma must be > 0, got {sigma}")
    if int(size) != size or size < 1:
        raise ValueError(f"blur kernel size must be a positive integer, got {size}")
    r = int(size) // 2
    t = torch.arange(-r, r + 1, device=device, dtype=dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def blur(x: torch.Tensor, sigma: float = 12.0, size: int = 80) -> torch.Tensor:
    """Separable Gaussian blur of each channel: x [N,C,H,W] -> [N,C,H,W].

    Borders: each output is the Gaussian-weighted mean of the pixels INSIDE the image (zero
    padding, then division by the sum of the taps that fell inside), separately along rows and
    columns. So every output is a convex combination of input pixels, a constant image is
    returned unchanged, and no edge pixel is over-weighted (as replicate padding would do).
    Blurring commutes with the per-channel affine input normalisation, so it can be applied to
    the model input directly. Works for any image size, also smaller than the kernel.
    """
    if x.dim() != 4:
        raise ValueError(f"blur expects [N,C,H,W], got shape {tuple(x.shape)}")
    k = gaussian_kernel(sigma, size, device=x.device, dtype=x.dtype)
    r, c = k.numel() // 2, x.shape[1]
    for dim in (2, 3):
        shape = (1, 1, -1, 1) if dim == 2 else (1, 1, 1, -1)
        padding = (r, 0) if dim == 2 else (0, r)
        weighted = F.conv2d(x, k.view(shape).expand(c, *k.view(shape).shape[1:]), padding=padding, groups=c)
        inside = F.conv1d(torch.ones((1, 1, x.shape[dim]), device=x.device, dtype=x.dtype), k.view(1, 1, -1),
                          padding=r).view(shape)   # sum of the taps that fall inside the image
        x = weighted / inside
    return x
