"""Test helper (not a test module): run eval.compare on a tiny random-weight SSD with an oracle
detector, so that sample selection is controlled without a trained model.

The oracle reports every ground-truth object of the image being selected as a detection of its
class with score 0.9 and its exact box, at the prior whose box overlaps it most; everything after
selection (explanations, metrics, records, tables) is the real code on the real tiny model.
Usage: `python tests/eval_oracle.py [compare|sanity] ARGS…` or `torchrun … tests/eval_oracle.py …`
(ARGS as for that command; compare when no command is named), or `install()` in-process.
"""
import sys
from pathlib import Path

import torch
from torchvision.ops import box_iou

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ssd  # noqa: E402
from eval import compare  # noqa: E402
from eval.run import samples  # noqa: E402

_S = ssd.SHAPES_SSD512
# the SSD layout at 128×128 input (five sources), 1/32 of the channels: a forward pass costs little
TINY = _S.replace(width=1 / 32, size=128, extras=_S.extras[:3], feature_maps=(16, 8, 4, 2, 1),
                  steps=(8, 16, 32, 64, 128), min_sizes=tuple(s / 4 for s in _S.min_sizes[:5]),
                  max_sizes=tuple(s / 4 for s in _S.max_sizes[:5]), aspect_ratios=_S.aspect_ratios[:5])


def save_tiny_model(path, seed: int = 0) -> None:
    torch.manual_seed(seed)
    model = ssd.SSD(TINY)
    torch.save({"format": "xai-ssd", "config": TINY.to_dict(), "state_dict": model.state_dict()}, path)


def oracle(real_images=None):
    """(images, detect): a synthetic image source that remembers the current image's objects, and a
    stand-in for ssd.detect that reports exactly those objects."""
    current = {}
    real_images = real_images or samples.synthetic_images

    def images(*args, **kw):
        for item in real_images(*args, **kw):
            current["boxes"], current["names"] = item[2], item[3]
            yield item

    def detect(model, x, score_threshold=None, **kw):
        cfg = model.config
        scale = cfg.size / 512
        boxes = torch.as_tensor(current["boxes"], device=x.device).float().reshape(-1, 4) * scale
        labels = torch.tensor([cfg.class_names.index(n) for n in current["names"]], device=x.device)
        prior_boxes = ssd.decode(torch.zeros(1, 4, device=x.device), ssd.priors(cfg, x.device)) * cfg.size
        priors = box_iou(boxes, prior_boxes).argmax(1)
        scores = torch.full((len(boxes),), 0.9, device=x.device)
        return [ssd.Detections(boxes, scores, labels, priors)]

    return images, detect


def install(setattr=setattr) -> None:
    """Patch the synthetic image source (eval.run.samples) and ssd.detect with the oracle (pass
    pytest's monkeypatch.setattr to have the patches undone after a test)."""
    images, detect = oracle()
    setattr(samples, "synthetic_images", images)
    setattr(ssd, "detect", detect)


if __name__ == "__mp_main__":      # a worker process of --processes (spawned: it imports this file so)
    install()

if __name__ == "__main__":
    install()
    argv = sys.argv[1:]
    if argv and argv[0] == "sanity":
        from eval import sanity
        sys.exit(sanity.main(argv[1:]))
    sys.exit(compare.main(argv[1:] if argv and argv[0] == "compare" else argv))
