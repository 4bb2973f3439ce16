"""Grouping a pixel-wise heatmap into superpixels (tables 1–3, column "superpixels")."""
import torch


def check_segments(segments: torch.Tensor, shape) -> None:
    """Raise a ValueError unless `segments` is an integer [H,W] label map of the given shape."""
    if segments.shape != tuple(shape):
        raise ValueError(f"segments of shape {tuple(segments.shape)} do not match the heatmap {tuple(shape)}")
    if segments.dtype.is_floating_point or segments.dtype == torch.bool:
        raise ValueError(f"segments must hold integer labels, got dtype {segments.dtype}")
    if segments.numel() and int(segments.min()) < 0:
        raise ValueError("segments must hold labels >= 0")


def superpixel_sums(heatmap: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """Relevance of each superpixel: R_s = Σ_{p ∈ s} R_p.  heatmap [H,W], segments [H,W] -> [S]."""
    check_segments(segments, heatmap.shape)
    labels = segments.reshape(-1).long()
    return torch.zeros(int(labels.max()) + 1, dtype=heatmap.dtype, device=heatmap.device).index_add_(
        0, labels, heatmap.reshape(-1))


def group(heatmap: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """The heatmap grouped into superpixels: every pixel p of superpixel s gets R_s / |s|.

    heatmap [H,W], segments [H,W] -> [H,W]. Relevance is summed per superpixel and spread evenly over
    its pixels, so the map's total (and any region's share of whole superpixels) is conserved, and a
    map that is already constant per superpixel (LIME, SHAP) is returned unchanged.
    """
    sums = superpixel_sums(heatmap, segments)
    labels = segments.reshape(-1).long()
    sizes = torch.bincount(labels, minlength=sums.numel()).to(heatmap.dtype)
    return (sums / sizes.clamp(min=1))[labels].reshape(heatmap.shape)
