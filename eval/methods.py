"""The four explanation methods with the paper's settings, behind one call for the comparison."""
import torch

METHODS = ("lrp", "deeplift", "lime", "shap")
SUPERPIXEL_METHODS = ("lime", "shap")     # their heatmaps are painted from superpixel values


def check_methods(names) -> list[str]:
    """The method names, validated (ValueError naming the unknown ones)."""
    names = [n.strip().lower() for n in names if n.strip()]
    unknown = [n for n in names if n not in METHODS]
    if unknown or not names:
        raise ValueError(f"unknown method(s) {', '.join(unknown) or '(none given)'}: choose from {', '.join(METHODS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"method listed twice in {','.join(names)}")
    return names


def explain(name: str, model, x: torch.Tensor, targets, segments: torch.Tensor, settings: dict) -> torch.Tensor:
    """Heatmaps [K,H,W] of the K targets of x [1,3,H,W].

    LRP-γ (A.2) on all convolutions with the ♭ rule on the first layer; DeepLIFT with γ-scaled
    positive weights, ♭ first layer and the blurred reference; LIME and SHAP over `segments` (the
    image's SLIC superpixels, shared with the grouping of the other methods) with the given number of
    samples / permutations. `settings` keys: gamma, lime_samples, shap_permutations, seed, batch_size.
    """
    if name == "lrp":
        import lrp
        return lrp.explain(model, x, targets, rule="gamma", gamma=settings["gamma"], first="flat")
    if name == "deeplift":
        import deeplift
        return deeplift.explain(model, x, targets, gamma=settings["gamma"], first="flat", reference="blur")
    if name in SUPERPIXEL_METHODS:
        import perturb
        return perturb.explain(model, x, targets, method=name, segments=segments,
                               n_samples=settings["lime_samples"], n_permutations=settings["shap_permutations"],
                               seed=settings["seed"], batch_size=settings["batch_size"])
    raise ValueError(f"unknown method {name!r}: choose from {', '.join(METHODS)}")
