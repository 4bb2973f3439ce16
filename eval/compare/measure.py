"""Everything measured for one explained detection, from its heatmaps: the record of each method.

For a sample (one target of one image) and its heatmaps {method: [H,W]} this computes, sharing one
set of model passes (eval.removal.curves.RemovalCurves, no input evaluated twice):

- faithfulness: MoRF and LeRF removal curves with every operator of the run (default `true`) and
  unit ("superpixels", optionally "pixels"), their normalised log-grid areas and the gap
  (eval.removal.curves, eval.metrics.faithfulness);
- the paper's pixel flipping: `grey` MoRF, unnormalised probability, AUC over the fraction 0…1
  (table 2), pixel-wise (LRP, DeepLIFT) and grouped into superpixels (all);
- entropy (eq. 4.1, table 1; it counts the distinct values, i.e. mostly the receptive field's size)
  and the binned entropy (table 1b), localization in the box (table 3) and in the ground-truth mask
  (table 3b) with its gain over the receptive-field-uniform null, relevance outside the receptive
  field; pixel-wise and grouped into superpixels where that applies;
- the field's metrics: the pointing game (eval.metrics.pointing) and insertion / deletion AUC with
  OA = insertion − deletion (eval.metrics.insertion_deletion) on the `true` and `grey` operators,
  superpixels, at ID_GRID, from the same passes;
- references, controls and ablations (eval.compare.rows), curves only;
- operator fidelity: the target's probability after removing each object of the image with each
  operator, beside its probability after true removal (eval.metrics.fidelity).

The score is the target's softmax probability at its prior, computed on the window and blocks the
target can see (perturb.WindowedScore: exact, and much cheaper for conv4_3 targets).
"""
import zlib
from dataclasses import dataclass

import torch

import perturb
from eval.metrics.entropy import entropy
from eval.metrics.faithfulness import log_auc, normalised
from eval.metrics.fidelity import operator_fidelity
from eval.metrics.flipping import linear_auc
from eval.metrics.localization import localization, localization_null
from eval.metrics.outside_rf import outside_rf
from eval.metrics.pointing import pointing_game
from eval.metrics.superpixels import group
from eval.removal import curves
from eval.removal.curves import LOG_GRID, RemovalCurves
from eval.removal.operators import OPERATORS
from eval.removal.operators import operators as make_operators
from eval.removal.oracle import active_superpixels, greedy_order, pixel_order

from .rows import plan, with_maps


@dataclass(frozen=True)
class Protocol:
    """What is measured for every sample.

    operators: removal operators of the faithfulness curves; units: "superpixels" and/or "pixels";
    flip_fractions: the grid of the paper's pixel flipping ((0,) + LOG_GRID, or 101 linear steps);
    fidelity_operators: the operators compared against true removal (needs the synthetic scene);
    random_orders: random orders averaged in the "random" row; seed: of the random orders and ties;
    oracle, controls, ablations: the rows of eval.compare.rows to add (the oracle needs `true` removal
    on superpixels)."""

    operators: tuple = ("true",)
    units: tuple = ("superpixels",)
    flip_fractions: tuple = (0.0,) + LOG_GRID
    fidelity_operators: tuple = ("grey", "blur", "inpaint")
    random_orders: int = 3
    seed: int = 0
    batch_size: int = 8
    oracle: bool = True
    controls: bool = True
    ablations: bool = False

    def has_oracle(self) -> bool:
        """The oracle needs true removal (its inert superpixels) on superpixels."""
        return self.oracle and "true" in self.operators and "superpixels" in self.units

    def curve_fractions(self) -> tuple:
        """The faithfulness grid with 0 in front (s_0); LOG_GRID ends at 1 (s_all)."""
        return (0.0,) + LOG_GRID


ID_GRID = tuple(k / 10 for k in range(11))      # insertion / deletion: the fraction 0, 10 %, …, 100 %


def _seed(seed: int, sample_id: str, what: str) -> int:
    return zlib.crc32(f"{seed}:{sample_id}:{what}".encode())


def score_function(model, target):
    """x [B,3,H,W] -> [B]: the target's softmax probability at its prior (windowed, exact)."""
    f = perturb.WindowedScore(model, [target], kind="probability")
    return lambda x: f(x)[:, 0]


def measure_sample(model, item, sample, heatmaps: dict, segments: torch.Tensor, methods, superpixel_methods,
                   protocol: Protocol) -> tuple[dict, dict]:
    """Records of one sample: ({row: record body}, sample record body).

    heatmaps {name: [H,W]}: the maps of the run's `methods` (any subset) and, for the controls, the
    randomised model's ("lrp-random-model"); superpixel_methods: the names whose maps are painted from
    superpixels (LIME, SHAP: no pixel-wise paper metrics). The rows (eval.compare.rows) add the
    references, the controls and the ablations the protocol asks for; the sample record holds the
    operator fidelity, the passes run and skipped (the oracle's own among them), the ends s_0 / s_all
    of every operator and the localization nulls."""
    x = item.x
    H, W = x.shape[2:]
    field = perturb.ssd_receptive_fields(model, [sample.target], (H, W), x.device)[0]
    mask = item.masks[sample.gt_index] if item.masks is not None else None
    background = item.without() if item.scene is not None else None
    names = set(protocol.operators) | {"grey"} | (set(protocol.fidelity_operators) - {"true"})
    if "true" in names and background is None:
        raise ValueError("the true removal operator needs the synthetic data (use --operators grey,blur,inpaint)")
    ops = make_operators(sorted(names), x, background)
    score = score_function(model, sample.target)
    rc = RemovalCurves(score, x, field, ops, protocol.batch_size)
    ties = curves.tie_breaker(H * W, _seed(protocol.seed, sample.sample_id, "ties"), x.device)
    segment_ties = curves.tie_breaker(int(segments.max()) + 1, _seed(protocol.seed, sample.sample_id, "segment ties"),
                                      x.device)
    grid, flip = protocol.curve_fractions(), protocol.flip_fractions
    oracle = protocol.has_oracle()
    rows = with_maps(plan(methods, superpixel_methods, protocol.random_orders, mask is not None, oracle,
                          protocol.controls, protocol.ablations), heatmaps, item.image, sample.box, mask)

    asked = {}                       # (row, map k, "faith" | "flip", operator, unit, direction) -> request
    for row in rows:
        for k, h in enumerate(row.maps):
            for unit in curves.UNITS:
                if unit == "pixels" and row.aggregate != "mean":
                    continue
                seg = segments if unit == "superpixels" else None
                h_unit = h if h is not None else curves.random_heatmap(
                    (H, W), _seed(protocol.seed, sample.sample_id, f"random {k}"), seg, x.device)
                if unit in protocol.units:
                    for op in protocol.operators:
                        for d in curves.DIRECTIONS:
                            asked[row.name, k, "faith", op, unit, d] = rc.add_heatmap(
                                op, h_unit, d, grid, seg, ties, segment_ties, row.aggregate)
                if row.flipping and (unit == "superpixels" or not row.native_superpixels):
                    asked[row.name, k, "flip", "grey", unit, "morf"] = rc.add_heatmap(
                        "grey", h_unit, "morf", flip, seg, ties, segment_ties)
    n = H * W
    id_operators = [op for op in ("true", "grey") if op in ops]
    for row in rows:         # insertion and deletion: the MoRF order, and its complement put back
        if row.kind == "method":
            order, steps = curves.removal_order(row.maps[0], "morf", segments, ties, segment_ties)
            counts = curves.counts_at(steps, ID_GRID, n)
            for op in id_operators:
                asked[row.name, 0, "deletion", op] = rc.add(op, order, counts)
                asked[row.name, 0, "insertion", op] = rc.add(op, order.flip(0), n - counts)
    for op in ops:           # every operator's two ends (s_0, s_all), needed to normalise
        rc.add(op, torch.arange(H * W, device=x.device), torch.tensor([0, H * W], device=x.device))
    rc.run()
    oracle_passes = 0
    if oracle:               # its ordering is chosen from the score (eval.removal.oracle), then scored as any
        active = active_superpixels(segments, field, ops["true"].changes())
        for d in curves.DIRECTIONS:
            order, passes = greedy_order(score, ops["true"], segments, active, d, *rc.ends("true"), grid,
                                         batch_size=protocol.batch_size)
            oracle_passes += passes
            pixels, steps = pixel_order(order, segments)
            asked["oracle", 0, "faith", "true", "superpixels", d] = rc.add("true", pixels, curves.counts_at(steps, grid, H * W))
        rc.run()

    bodies = {}
    for row in rows:
        count = max(1, len(row.maps))
        faith, flipping = {}, {}
        for op in protocol.operators:
            s0, s_all = rc.ends(op)
            for unit in protocol.units:
                if (row.name, 0, "faith", op, unit, "morf") not in asked:
                    continue
                entry = {}
                for d in curves.DIRECTIONS:
                    raw = [rc.curve(asked[row.name, k, "faith", op, unit, d]) for k in range(count)]
                    mean = [sum(v) / len(raw) for v in zip(*raw)]
                    norm = normalised(mean, s0, s_all)
                    entry[d] = None if norm is None else log_auc(norm[1:], grid[1:])
                    entry[f"{d}_curve"] = norm
                entry["gap"] = None if entry["morf"] is None else entry["lerf"] - entry["morf"]
                faith.setdefault(op, {})[unit] = entry
        for unit in curves.UNITS:
            keys = [(row.name, k, "flip", "grey", unit, "morf") for k in range(count)]
            if keys[0] in asked:
                raw = [rc.curve(asked[key]) for key in keys]
                mean = [sum(v) / len(raw) for v in zip(*raw)]
                flipping[unit] = {"auc": linear_auc(mean, flip), "curve": mean}
        body = {"faithfulness": faith, "flipping": flipping, "row_kind": row.kind}
        if row.metrics:
            body["metrics"] = heatmap_metrics(row.maps[0], segments, field, sample.box, mask,
                                              native_superpixels=row.native_superpixels)
        if row.kind == "method":
            body["pointing"] = pointing_game(row.maps[0], mask if mask is not None else sample.box)
            body["insertion_deletion"] = {}
            for op in id_operators:
                i, d = (linear_auc(rc.curve(asked[row.name, 0, what, op]), ID_GRID) for what in ("insertion", "deletion"))
                body["insertion_deletion"][op] = {"insertion": i, "deletion": d, "oa": i - d}
        bodies[row.name] = body

    fidelity, fidelity_passes = operator_fidelity(item, score, ops, protocol.fidelity_operators, sample.gt_index)
    sample_body = {
        "passes_run": rc.passes_run + fidelity_passes + oracle_passes, "passes_skipped": rc.passes_skipped,
        "oracle_passes": oracle_passes, "superpixels": int(segments.max()) + 1,
        "ends": {op: dict(zip(("s0", "s_all"), rc.ends(op))) for op in ops},
        "fidelity": fidelity, "field_pixels": int(field.sum()),
        "localization_null": {"box": localization_null(field, sample.box),
                              "mask": localization_null(field, mask) if mask is not None else None}}
    return bodies, sample_body


def heatmap_metrics(heatmap, segments, field, box, mask, native_superpixels: bool) -> dict:
    """The paper's heatmap metrics of one map [H,W] per unit (a superpixel map: "superpixels" only),
    plus the localization gain over the receptive-field-uniform null and the share outside the field."""
    maps = {"superpixels": heatmap if native_superpixels else group(heatmap, segments)}
    if not native_superpixels:
        maps["pixels"] = heatmap
    null_box = localization_null(field, box)
    null_mask = localization_null(field, mask) if mask is not None else None
    out = {"entropy": {}, "entropy_binned": {}, "localization_box": {}, "localization_mask": {},
           "localization_box_gain": {}, "localization_mask_gain": {}}
    for unit, h in maps.items():
        out["entropy"][unit] = entropy(h)
        out["entropy_binned"][unit] = entropy(h, bins=256)
        out["localization_box"][unit] = localization(h, box)
        out["localization_box_gain"][unit] = out["localization_box"][unit] - null_box
        if mask is not None:
            out["localization_mask"][unit] = localization(h, mask)
            out["localization_mask_gain"][unit] = out["localization_mask"][unit] - null_mask
    out["outside_rf"] = outside_rf(heatmap, field)
    return out


__all__ = ["Protocol", "measure_sample", "heatmap_metrics", "score_function", "OPERATORS"]
