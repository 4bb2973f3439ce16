"""What an eval.compare run may claim: a declared family of comparisons, Holm-adjusted (eval.stats),
equivalence at a declared margin, the metric-sanity check, and the conclusions in words.

The primary family, on the headline curves (the run's first operator, superpixels where measured):
    the six pairs of the four methods on the gap;
    each method against the random order, and against each negative control (edge, box-gaussian,
    lrp-random-model, and the method's own negated map) on the gap.
Holm's adjustment runs over the whole family. "A beats B" is claimed when the adjusted p < 0.05 with
at least 8 images; "A and B do not differ" only when the equivalence test (TOST) at the declared
margin passes, Holm-adjusted the same way; anything else is undecided, with its interval and the
minimum detectable effect (80 % power) beside it.

The metric-sanity check asks, per metric (MoRF, LeRF, gap, oracle share, localization in the mask):
does it rank every negative control below every method? One family per metric (every method against
every control, Holm-adjusted): "ranks_below" when the method is better with adjusted p < 0.05. A
metric that cannot rank the model-independent and the upside-down maps below the methods measures
something else than faithfulness to the model; such a metric's comparisons of methods are not trusted.
"""
import itertools

from eval import stats
from eval.metrics import higher_is_better

MARGIN = 0.05            # equivalence margin on the gap (normalised area): about the size of the
                         # differences the earlier runs claimed; smaller ones are not worth a choice of method
CONTROLS = ("edge", "box-gaussian", "lrp-random-model", "negated")
SANITY_METRICS = {"morf": ("faithfulness", "morf"), "lerf": ("faithfulness", "lerf"),
                  "gap": ("faithfulness", "gap"), "oracle_share": None,
                  "localization_mask_gain": ("metrics", "localization_mask_gain", "superpixels")}


def headline(rec) -> tuple[str, str]:
    """(operator, unit) of the claims: the run's first operator, on superpixels if measured."""
    op = rec.operators[0]
    return op, "superpixels" if "superpixels" in rec.units else rec.units[0]


def _control_of(control: str, method: str) -> str:
    return f"{method}-negated" if control == "negated" else control


def primary_family(rec, values) -> list[dict]:
    """The comparisons of the primary family (module docstring); values(row) -> {sample: gap}."""
    op, unit = headline(rec)
    pairs = list(itertools.combinations(rec.methods, 2))
    pairs += [(m, "random") for m in rec.methods]
    pairs += [(m, _control_of(c, m)) for c in CONTROLS for m in rec.methods]
    return [{"metric": "gap", "operator": op, "unit": unit, "a": a, "b": b, "higher_is_better": True,
             "values_a": values(a), "values_b": values(b), "cluster_of": rec.image_of,
             "margin": MARGIN if b in rec.methods else None}
            for a, b in pairs if a in rec.rows and b in rec.rows]


def claims(rec, oracle_shares) -> dict:
    """{"claims": the primary family's entries (eval.stats.claims), "mde": {"a vs b": minimum detectable
    effect of the pair on the gap}, "metric_sanity": {metric: {control: {method: {"mean_diff", "ci95",
    "p_holm", "ranks_below"}}}}}. oracle_shares(op, unit, row) -> {sample: share}."""
    op, unit = headline(rec)
    gap = lambda row: rec.values(row, "faithfulness", op, unit, "gap")      # noqa: E731
    family = primary_family(rec, gap)
    mde = {f"{c['a']} vs {c['b']}": stats.paired_minimum_detectable_effect(c["values_a"], c["values_b"], rec.image_of)
           for c in family if c["b"] in rec.methods}
    sanity = {}
    for metric, path in SANITY_METRICS.items():
        def values(row):
            if path is None:
                return oracle_shares(op, unit, row) if "oracle" in rec.rows else {}
            return rec.values(row, *(path[:1] + (op, unit) + path[1:] if path[0] == "faithfulness" else path))
        tests = [{"metric": metric, "operator": op, "unit": unit, "a": m, "b": _control_of(c, m),
                  "higher_is_better": higher_is_better(metric), "values_a": values(m), "values_b": values(_control_of(c, m)),
                  "cluster_of": rec.image_of, "control": c}
                 for c in CONTROLS for m in rec.methods if _control_of(c, m) in rec.rows]
        tests = [t for t in tests if any(v is not None for v in t["values_a"].values())
                 and any(v is not None for v in t["values_b"].values())]
        for t, e in zip(tests, stats.claims(f"metric sanity: {metric}", tests) if tests else []):
            sanity.setdefault(metric, {}).setdefault(t["control"], {})[t["a"]] = {
                "mean_diff": e["mean_diff"], "ci95": e["ci95"], "p_holm": e["p_holm"],
                "ranks_below": e["supported"] and e["better"] == t["a"], "n": e["n"], "n_images": e["n_images"]}
    return {"claims": stats.claims("primary", family) if family else [], "mde": mde, "metric_sanity": sanity}


def trusted(sanity: dict, metric: str) -> bool | None:
    """Whether a metric ranks every negative control below every method (None: not measured)."""
    if metric not in sanity:
        return None
    return all(e["ranks_below"] for by_method in sanity[metric].values() for e in by_method.values())


def _effect(e: dict) -> str:
    if e["mean_diff"] is None:
        return "(no values)"
    lo, hi = e["ci95"] or (None, None)
    interval = f" [{lo:+.3f}, {hi:+.3f}]" if lo is not None else ""
    return f"{e['mean_diff']:+.3f}{interval}"


def conclusions(data: dict) -> list[str]:
    """"What this run shows": sentences generated from the adjusted claims and the metric-sanity table."""
    out = [f"{data['n_samples']} detections from {data['n_images']} images"
           + (f" (no claim rests on fewer than {stats.MIN_IMAGES} images)." if data["n_images"] >= stats.MIN_IMAGES
              else f": fewer than {stats.MIN_IMAGES} images, so this run supports no claim.")]
    entries = data.get("claims") or []
    methods = data.get("methods") or []
    vs_random = [e for e in entries if e["b"] == "random"]
    if vs_random:
        beat = [e["a"] for e in vs_random if e["supported"] and e["better"] == e["a"]]
        out.append(("Every method" if len(beat) == len(vs_random) else f"{', '.join(beat) or 'No method'} (of "
                    f"{len(vs_random)})") + " beats a random order on the gap (Holm-adjusted p < 0.05).")
    faith = next(iter(next(iter(data["faithfulness"].values())).values()), {}) if data.get("faithfulness") else {}
    shares = {m: faith[m]["oracle_share"]["mean"] for m in methods if m in faith and faith[m].get("oracle_share")
              and faith[m]["oracle_share"]["mean"] is not None}
    if shares:
        out.append("Their gaps reach " + ", ".join(f"{m} {v:.2f}" for m, v in shares.items())
                   + " of the oracle's (random 0, oracle 1).")
    pairs = [e for e in entries if e["a"] in methods and e["b"] in methods]
    won = [e for e in pairs if e["supported"]]
    same = [e for e in pairs if e["equivalent"]]
    open_ = [e for e in pairs if not e["supported"] and not e["equivalent"]]
    for e in won:
        loser = e["b"] if e["better"] == e["a"] else e["a"]
        out.append(f"{e['better']} beats {loser} on the gap: {_effect(e)} (Holm-adjusted p = {e['p_holm']:.3g}).")
    if same:
        out.append("Equivalent within ±" + f"{same[0]['margin']:g}" + " on the gap: "
                   + "; ".join(f"{e['a']} and {e['b']} ({_effect(e)})" for e in same) + ".")
    if open_:
        mde = data.get("mde") or {}
        out.append("Undecided (neither a difference nor equivalence): "
                   + "; ".join(f"{e['a']} vs {e['b']} {_effect(e)}"
                               + (f", smallest detectable {mde[e['a'] + ' vs ' + e['b']]:.3f}"
                                  if mde.get(f"{e['a']} vs {e['b']}") else "") for e in open_) + ".")
    failed = [e for e in entries if e["b"] not in methods and e["b"] != "random" and not (e["supported"] and e["better"] == e["a"])]
    if any(e["b"] not in methods and e["b"] != "random" for e in entries):
        out.append("Every method beats every negative control on the gap." if not failed else
                   "Not beaten on the gap: " + "; ".join(f"{e['b']} by {e['a']} ({_effect(e)})" for e in failed) + ".")
    sanity = data.get("metric_sanity") or {}
    verdicts = {m: trusted(sanity, m) for m in SANITY_METRICS}
    good = [m for m, v in verdicts.items() if v]
    bad = [m for m, v in verdicts.items() if v is False]
    if good or bad:
        out.append((f"Metrics that rank every control below every method: {', '.join(good)}. " if good else "")
                   + (f"Not trusted (some control not ranked below some method): {', '.join(bad)}." if bad else ""))
    return out
