"""What the fair Clever-Hans test lets one conclude, in words, from hans.json alone (eval.hans.summary).

Each sentence gives the run's numbers and no more conclusion than its intervals carry: one method is
said to be above another only where the paired interval of their difference excludes 0.
"""
from eval.report.table import fmt_cell

from .controls import CONTROLS
from .controls import METHOD as CONTROL_METHOD


def _mean(cell) -> float | None:
    return cell.get("mean") if cell else None


def order(cells: dict, ascending: bool = False) -> list[str]:
    """The names of `cells` {name: cell} by mean, highest first (lowest with `ascending`); undefined last."""
    defined = [m for m in cells if _mean(cells[m]) is not None]
    ranked = sorted(defined, key=lambda m: _mean(cells[m]), reverse=not ascending)
    return ranked + [m for m in cells if m not in defined]


def _pairs(text: str, pairs: list) -> str:
    return f"{text} ({', '.join(f'{a} vs {b}' for a, b in pairs)})" if pairs else text


def granularity(data: dict) -> list[str]:
    """Does the ranking by tag share survive equal granularity, and how near each method comes to the ceiling."""
    g = data["granularity"]
    pixels = {m: data["cells"][m]["clever_hans"]["tag"] for m in g["superpixels"]}
    before = {(e["a"], e["b"]): e["better"] for e in data["paired"] if e["better"]}
    after = {(e["a"], e["b"]): e["better"] for e in g["paired"]["superpixels"] if e["better"]}
    held = [k for k, v in before.items() if after.get(k) == v]
    lost = [k for k in before if k not in after]
    reversed_ = [k for k, v in before.items() if after.get(k) not in (None, v)]
    new = [k for k in after if k not in before]
    out = [f"Equal granularity. Methods by mean tag share on pixels: {' > '.join(order(pixels))}; after grouping "
           f"every map into the same superpixels: {' > '.join(order(g['superpixels']))}.",
           f"Of the {len(before)} differences in tag share that the paired intervals support on pixels, {len(held)} "
           + _pairs(f"hold after grouping, {len(lost)} are no longer supported", lost)
           + _pairs(f", {len(reversed_)} reverse", reversed_)
           + (_pairs(f"; {len(new)} are supported only after grouping", new) if new else "")
           + ". Only the ones that hold rank the methods at equal granularity; for the others the data do not say "
             "which method puts more on the tag once both are read at the same granularity."]
    ceiling = _mean(g["ceiling"])
    if ceiling:
        out.append(f"A perfect superpixel map (all positive relevance on the tag's superpixel) reaches a tag share of "
                   f"only {fmt_cell(g['ceiling'])}: "
                   + "; ".join(f"{m} {_mean(g['superpixels'][m]):.3f} ({_mean(g['superpixels'][m]) / ceiling:.0%} of "
                               f"it, the tag's superpixel ranked {_mean(g['rank'][m]):.1f} on average)"
                               for m in order(g["superpixels"]) if _mean(g["superpixels"][m]) is not None) + ".")
    return out


def causal(data: dict) -> list[str]:
    """How p splits between the tag and the object, and which map splits its relevance alike."""
    c = data["causal_split"]
    p = {k: _mean(v) for k, v in c["p"].items()}
    out = []
    if None not in p.values():
        out.append(f"Causal split. Mean p of the target with the tag and the object: {p['both']:.3f}; the tag removed: "
                   f"{p['no_tag']:.3f}; the object removed, its tag kept: {p['no_object']:.3f}; both removed: "
                   f"{p['none']:.3f}.")
    share = c["causal_tag_share"]
    if _mean(share) is None:
        return out + [f"The causal split is undefined for all {c['undefined']} detections."]
    ci = share.get("ci95")
    if ci is None:
        reading = "with too few images for an interval, the data do not say which carries more"
    elif ci[0] <= 0.5 <= ci[1]:
        reading = "its interval includes ½: the tag and the object carry the detection alike"
    else:
        reading = f"its interval lies {'above' if ci[0] > 0.5 else 'below'} ½: the " \
                  f"{'tag' if ci[0] > 0.5 else 'object'} carries more of the detection"
    closest = [f"{m} {_mean(c['distance'][m]):.3f}" for m in order(c["distance"], ascending=True)
               if _mean(c["distance"][m]) is not None]
    out.append(f"Causal tag share φ_tag / (φ_tag + φ_object): {fmt_cell(share)}; {reading}. So more relevance "
               "on the tag is not better in itself: a map whose tag / (tag + object) lies above the causal share "
               "overstates the tag, one below it understates it, and the distance counts both alike. Mean distance "
               f"to the causal split, closest first: {', '.join(closest)}.")
    out.append("What the split cannot say: it is a split between the two regions as wholes under true removal, "
               "their interaction shared equally (Shapley); it does not say which pixels within the tag or the "
               "object matter, and a map's relevance elsewhere is left out of its tag / (tag + object).")
    return out


def controls(data: dict) -> list[str]:
    """LRP-γ's tag share on shapes-hans against the plain model and the randomised one."""
    k = data.get("controls", {})
    if CONTROL_METHOD not in data["cells"] or not k.get("paired"):
        return []
    shapes = k["shapes"]
    out = [f"Controls. The plain shapes model detects {shapes['n']} of {shapes['n'] + shapes.get('undefined', 0)} "
           "of these objects itself (their true class, box IoU ≥ 0.5). LRP-γ's tag share of its own detection: "
           f"{fmt_cell(shapes)}; of the cue detection's target under the fully randomised shapes-hans: "
           f"{fmt_cell(k['random-model'])}; under shapes-hans: "
           f"{fmt_cell(data['cells'][CONTROL_METHOD]['clever_hans']['tag'])}."]
    above = []
    for name in CONTROLS:
        d = k["paired"][name]
        if d["mean_diff"] is None:
            continue
        separated = d["excludes_zero"] and d["mean_diff"] > 0
        above.append(separated)
        lo, hi = d["ci95"] or (None, None)
        interval = f" [{lo:+.3f}, {hi:+.3f}]" if lo is not None else ""
        out.append(f"Paired over the same objects, shapes-hans minus the {name} control: "
                   f"{d['mean_diff']:+.3f}{interval} (n={d['n']}): "
                   f"{'above' if separated else 'not separated from'} the control.")
    if above and all(above):
        out.append("So LRP-γ's tag share follows what shapes-hans learnt: it is neither in the tag's pixels nor in the "
                   "architecture alone, since a model that never learnt the tag, and a random one, get little on it.")
    elif above:
        out.append("A control is not separated from shapes-hans: LRP-γ's tag share alone does not show that the "
                   "model uses the tag.")
    return out


def findings(data: dict) -> list[str]:
    """The sentences of the fair test: granularity, causal split, controls."""
    return granularity(data) + causal(data) + controls(data)
