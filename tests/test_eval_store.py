"""The run store: torn lines, settings hashes, duplicate keys, part files and sample arrays."""
import json
import math

import numpy as np
import pytest
import torch

from eval import store


def _rec(sample, method, value, kind="explanation"):
    return {"kind": kind, "sample_id": sample, "image_id": 1, "method": method, "value": value}


def test_settings_hash_depends_on_every_setting():
    a = store.settings_hash({"gamma": 0.1, "seed": 0})
    assert a == store.settings_hash({"seed": 0, "gamma": 0.1})
    assert a != store.settings_hash({"gamma": 0.25, "seed": 0})


def test_torn_last_line_is_dropped_then_cut_off_by_the_next_append(tmp_path):
    s = store.Store(tmp_path, "h1")
    s.append(_rec("a", "lrp", 1.0))
    with open(s.path, "a") as f:
        f.write('{"kind": "explanation", "sample_id": "b", "meth')      # killed mid-write
    assert [r["value"] for r in s.records()] == [1.0]
    s.append(_rec("b", "lrp", 2.0))                                     # the rerun writes b again
    lines = s.path.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line) for line in lines)  # the fragment is gone
    assert [r["sample_id"] for r in s.records()] == ["a", "b"]


def test_complete_record_without_newline_is_kept(tmp_path):
    s = store.Store(tmp_path, "h1")
    s.path.write_text(json.dumps({**_rec("a", "lrp", 1.0), "settings_hash": "h1"}))   # newline lost
    s.append(_rec("b", "lrp", 2.0))
    assert [r["sample_id"] for r in s.records()] == ["a", "b"]


def test_damage_in_the_middle_is_an_error_naming_the_line(tmp_path):
    s = store.Store(tmp_path, "h1")
    s.path.write_text('{"broken\n' + json.dumps({**_rec("a", "lrp", 1.0), "settings_hash": "h1"}) + "\n")
    with pytest.raises(ValueError, match="line 1"):
        s.records()


def test_first_record_of_a_key_wins_and_other_settings_are_ignored(tmp_path):
    s, other = store.Store(tmp_path, "h1"), store.Store(tmp_path, "h2")
    s.append(_rec("a", "lrp", 1.0))
    other.append(_rec("a", "lrp", 2.0))
    s.append(_rec("a", "lrp", 3.0))
    s.append(_rec("a", "lrp", 4.0, kind="fidelity"))
    assert [(r["kind"], r["value"]) for r in s.records()] == [("explanation", 1.0), ("fidelity", 4.0)]
    assert [r["value"] for r in other.records()] == [2.0]
    assert s.keys() == {("explanation", "a", "lrp"), ("fidelity", "a", "lrp")}


def test_non_finite_values_are_written_as_null(tmp_path):
    s = store.Store(tmp_path, "h1")
    s.append({**_rec("a", "lrp", math.nan), "curve": [1.0, math.inf], "t": torch.tensor(2.5)})
    r = s.records()[0]
    assert r["value"] is None and r["curve"] == [1.0, None] and r["t"] == 2.5


def test_parts_are_merged_once(tmp_path):
    store.Store(tmp_path, "h1").append(_rec("a", "lrp", 1.0))
    store.Store(tmp_path, "h1", rank=0).append(_rec("a", "lrp", 1.0))
    store.Store(tmp_path, "h1", rank=1).append(_rec("b", "lrp", 2.0))
    main = store.Store(tmp_path, "h1")
    assert main.merge_parts() == 1
    assert not list(tmp_path.glob("samples.rank*.jsonl"))
    assert [r["sample_id"] for r in main.records()] == ["a", "b"]


def test_arrays_of_other_settings_are_replaced_not_mixed(tmp_path):
    s = store.Store(tmp_path, "h1")
    image = np.zeros((4, 4, 3), np.uint8)
    s.save_arrays("a", image=image, **{"heatmap/lrp": torch.ones(4, 4)})
    s.save_arrays("a", **{"heatmap/shap": np.full((4, 4), 2.0)})
    s.append(_rec("a", "lrp", 1.0))
    (sample,) = s.samples()
    assert set(sample.heatmaps) == {"lrp", "shap"} and sample.heatmaps["shap"][0, 0] == 2.0
    assert sample.records[0]["value"] == 1.0 and sample.segments is None
    other = store.Store(tmp_path, "h2")
    assert other.load_arrays("a") == {}
    other.save_arrays("a", image=image)
    assert store.Store(tmp_path, "h1").load_arrays("a") == {}
    assert not list((tmp_path / "heatmaps").glob("*.tmp"))
