"""The one place that knows the explanation methods: name, label (from the run's settings), whether
the heatmap is painted from superpixels, and how to call it.

    method = get("lrp", settings)                          # a Method
    heatmaps = method.explain(model, x, targets, segments) # [K,H,W] for the K targets of x [1,3,H,W]

Names: the paper's four (`METHODS`: "lrp" = LRP-γ + ♭, "deeplift" = DeepLIFT-γ + ♭ with the blurred
reference, "lime", "shap"), the variants of figures 4 and 5 and of the sanity checks
("lrp-epsilon", "lrp-gamma", "lrp-zplus" (each with ♭), "deeplift-vanilla", "gradient": the plain
gradient map, the classic reference) and the field's reference methods for detectors ("drise":
D-RISE with the matched score, `perturb.explain_drise`; "gradcam": Grad-CAM at each target's source,
`lrp.gradcam`), whose own settings are `REFERENCE` (a run's settings may override them by name).
`settings` holds the run's hyperparameters (`PAPER` gives the paper's; `settings_of(args)` takes them
from a command line of eval.run.cli): gamma, lime_samples, shap_permutations, seed, batch_size,
superpixels.
"""
from dataclasses import dataclass
from typing import Callable

import torch

METHODS = ("lrp", "deeplift", "lime", "shap")                 # the paper's comparison, in its order
SUPERPIXEL_METHODS = ("lime", "shap")                         # heatmaps painted from superpixel values
# the paper's settings (sections 3.2.1–3.2.4); batch_size None: perturb.default_batch_size of the device
PAPER = {"gamma": 0.1, "lime_samples": 1000, "shap_permutations": 4, "seed": 0, "batch_size": None, "superpixels": 250}
SETTING_KEYS = tuple(PAPER)
# the reference methods' settings (not the paper's): D-RISE's masks, N chosen so that its time per
# image on the embedded model on the CPU is comparable to LIME's 1,000 passes; Grad-CAM's mode
REFERENCE = {"drise_masks": 1000, "drise_grid": 16, "drise_p": 0.5, "gradcam_mode": "gradcam"}


@dataclass(frozen=True)
class Method:
    """An explanation method with fixed settings. `run(model, x, targets, segments, **options) -> [K,H,W]`."""

    name: str
    label: str
    superpixel: bool
    run: Callable

    def explain(self, model, x: torch.Tensor, targets, segments: torch.Tensor | None = None, **options) -> torch.Tensor:
        """Heatmaps [K,H,W] of the K targets of one image x [1,3,H,W]; `segments` int [H,W] are the
        superpixels of LIME and SHAP (ignored by the others); `options` go to the method's own
        function (lrp.explain, deeplift.explain, perturb.explain: e.g. backward="loop", prune=False)."""
        return self.run(model, x, list(targets), segments, **options)


def _lrp(rule: str, gamma: float):
    def run(model, x, targets, segments, **options):
        import lrp
        return lrp.explain(model, x, targets, **{"rule": rule, "gamma": gamma, "first": "flat", **options})
    return run


def _deeplift(gamma: float, first):
    def run(model, x, targets, segments, **options):
        import deeplift
        return deeplift.explain(model, x, targets, **{"gamma": gamma, "first": first, "reference": "blur", **options})
    return run


def _perturb(method: str, settings: dict):
    def run(model, x, targets, segments, **options):
        import perturb
        if segments is None:
            segments = perturb.segments_of(x, model.config, n=settings["superpixels"])
        return perturb.explain(model, x, targets, **{
            "method": method, "segments": segments, "n_samples": settings["lime_samples"],
            "n_permutations": settings["shap_permutations"], "seed": settings["seed"],
            "batch_size": settings["batch_size"], **options})
    return run


def _lrp_random_model(gamma: float):
    """LRP-γ + ♭ of a copy of the model with every parameter re-drawn from its initialisation
    (eval.randomization, init seed 0): a negative control that sees the architecture and the
    input but nothing the model learned. The copy is made once per model and kept by this method."""
    copies = {}

    def run(model, x, targets, segments, **options):
        from eval.randomization import randomized, ssd_levels
        if id(model) not in copies:
            copies.clear()
            copies[id(model)] = randomized(model, ssd_levels(model), init_seed=0)
            for p in copies[id(model)].parameters():
                p.requires_grad_(False)
        return _lrp("gamma", gamma)(copies[id(model)], x, targets, segments, **options)
    return run


def _drise(settings: dict):
    def run(model, x, targets, segments, **options):
        import perturb
        return perturb.explain_drise(model, x, targets, **{
            "n_masks": settings["drise_masks"], "grid": settings["drise_grid"], "p": settings["drise_p"],
            "seed": settings["seed"], "batch_size": settings["batch_size"], **options})
    return run


def _gradcam(mode: str):
    def run(model, x, targets, segments, **options):
        import lrp
        return lrp.gradcam(model, x, targets, **{"mode": mode, **options})
    return run


def _gradient(model, x, targets, segments, **options):
    """∂s/∂x of each target (any kind, ssd.score) summed over colour channels, one backward pass per
    target (x checked first)."""
    import ssd
    ssd.check_input(model, x)
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        scores = ssd.score(model(x), targets)[0]                         # [K]
        maps = [torch.autograd.grad(s, x, retain_graph=k < len(targets) - 1)[0][0].sum(0)
                for k, s in enumerate(scores)]
    return torch.stack(maps)


_MAKERS = {   # name -> (label(settings), superpixel, run factory(settings))
    "lrp": (lambda s: f"LRP-γ({s['gamma']:g}) + ♭", False, lambda s: _lrp("gamma", s["gamma"])),
    "deeplift": (lambda s: f"DeepLIFT-γ({s['gamma']:g}) + ♭", False, lambda s: _deeplift(s["gamma"], "flat")),
    "lime": (lambda s: f"LIME ({s['lime_samples']} samples)", True, lambda s: _perturb("lime", s)),
    "shap": (lambda s: f"SHAP ({s['shap_permutations']} permutations)", True, lambda s: _perturb("shap", s)),
    "lrp-epsilon": (lambda s: "LRP-ε + ♭", False, lambda s: _lrp("epsilon", s["gamma"])),
    "lrp-gamma": (lambda s: f"LRP-γ({s['gamma']:g}) + ♭", False, lambda s: _lrp("gamma", s["gamma"])),
    "lrp-zplus": (lambda s: "LRP-z⁺ + ♭", False, lambda s: _lrp("zplus", s["gamma"])),
    "deeplift-vanilla": (lambda s: "DeepLIFT (vanilla)", False, lambda s: _deeplift(0.0, None)),
    "deeplift-gamma": (lambda s: f"DeepLIFT-γ({s['gamma']:g})", False, lambda s: _deeplift(s["gamma"], None)),
    "gradient": (lambda s: "gradient", False, lambda s: _gradient),
    "lrp-random-model": (lambda s: f"LRP-γ({s['gamma']:g}) + ♭ of a randomised model", False,
                         lambda s: _lrp_random_model(s["gamma"])),
    "drise": (lambda s: f"D-RISE ({s['drise_masks']} masks)", False, _drise),
    "gradcam": (lambda s: "Grad-CAM" if s["gradcam_mode"] == "gradcam" else "ODAM", False,
                lambda s: _gradcam(s["gradcam_mode"])),
}
NAMES = tuple(_MAKERS)
REFERENCE_LABELS = {"random": "random order", "mask": "ground-truth mask", "oracle": "oracle (greedy from the score)",
                    "edge": "edge map (Sobel)", "box-gaussian": "Gaussian on the box"}
SUFFIXES = {"-negated": "negated", "-positive": "ordered by R⁺", "-abs": "ordered by |R|",
            "-sum": "summed over superpixels"}


def get(name: str, settings: dict | None = None) -> Method:
    """The method `name` with the run's settings (default: the paper's, `PAPER`, and `REFERENCE`)."""
    if name not in _MAKERS:
        raise ValueError(f"unknown method {name!r}: choose from {', '.join(NAMES)}")
    s = {**PAPER, **REFERENCE, **(settings or {})}
    label_of, superpixel, make = _MAKERS[name]
    return Method(name, label_of(s), superpixel, make(s))


def label(name: str, settings: dict | None = None) -> str:
    """The display label of a row name: a method, a reference or control (REFERENCE_LABELS), or a
    method with a suffix of eval.compare.rows ("lrp-negated": "LRP-γ(0.1) + ♭, negated")."""
    if name in REFERENCE_LABELS:
        return REFERENCE_LABELS[name]
    for suffix, text in SUFFIXES.items():
        if name.endswith(suffix) and name[:-len(suffix)] in _MAKERS:
            return f"{get(name[:-len(suffix)], settings).label}, {text}"
    return get(name, settings).label


def check_methods(names_) -> list[str]:
    """Method names, validated (ValueError naming the unknown ones, or a repeated one)."""
    chosen = [n.strip().lower() for n in names_ if n.strip()]
    unknown = [n for n in chosen if n not in NAMES]
    if unknown or not chosen:
        raise ValueError(f"unknown method(s) {', '.join(unknown) or '(none given)'}: choose from {', '.join(NAMES)}")
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"method listed twice in {','.join(chosen)}")
    return chosen


def settings_of(args) -> dict:
    """The method settings of a parsed command line (eval.run.cli): {gamma, lime_samples, …}."""
    return {k: getattr(args, k) for k in SETTING_KEYS}


def explain(name: str, model, x: torch.Tensor, targets, segments, settings: dict) -> torch.Tensor:
    """get(name, settings).explain(model, x, targets, segments): heatmaps [K,H,W]."""
    return get(name, settings).explain(model, x, targets, segments)
