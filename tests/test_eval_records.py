"""Records (settings hash, torn lines, part merging) and the tables built from them."""
import json
import math

import pytest

from eval import records, tables


def _record(sample, method, value, digest="h1", curve=None):
    return {"settings_hash": digest, "sample_id": sample, "method": method, "seconds": value / 1000,
            "metrics": {"entropy": {"pixels": value, "superpixels": value / 2}, "auc": {"superpixels": value},
                        "localization_box": {"pixels": None if value > 9 else value / 10}},
            "curves": {"superpixels": curve or [1.0, value, 0.0]}}


def test_settings_hash_depends_on_every_setting():
    a = records.settings_hash({"gamma": 0.1, "seed": 0})
    assert a == records.settings_hash({"seed": 0, "gamma": 0.1})
    assert a != records.settings_hash({"gamma": 0.25, "seed": 0})


def test_torn_last_line_dropped_and_other_settings_ignored(tmp_path):
    path = tmp_path / records.RECORDS
    records.append(path, _record("a", "lrp", 1.0))
    records.append(path, _record("a", "lrp", 2.0, digest="other"))
    records.append(path, _record("a", "lrp", 3.0))                # duplicate: the first one counts
    with open(path, "a") as f:
        f.write('{"settings_hash": "h1", "sample_id": "b", "meth')  # killed mid-write
    found = records.load(tmp_path, "h1")
    assert list(found) == [("a", "lrp")] and found[("a", "lrp")]["metrics"]["entropy"]["pixels"] == 1.0
    assert records.load(tmp_path, "other")[("a", "lrp")]["seconds"] == 0.002
    path.write_text('{"broken\n' + json.dumps(_record("a", "lrp", 1.0)) + "\n")
    with pytest.raises(ValueError, match="line 1"):
        records.read(path)


def test_merge_parts_moves_each_record_once(tmp_path):
    records.append(tmp_path / records.RECORDS, _record("a", "lrp", 1.0))
    records.append(records.part_path(tmp_path, 0), _record("a", "lrp", 1.0))
    records.append(records.part_path(tmp_path, 1), _record("b", "lrp", 2.0))
    assert records.merge_parts(tmp_path) == 1
    assert not list(tmp_path.glob("samples.rank*.jsonl"))
    assert [r["sample_id"] for r in records.read(tmp_path / records.RECORDS)] == ["a", "b"]


def test_nan_is_written_as_null(tmp_path):
    records.append(tmp_path / "r.jsonl", {"x": math.nan, "y": [1.0, math.inf]})
    assert (tmp_path / "r.jsonl").read_text().strip() == '{"x": null, "y": [1.0, null]}'


def test_tables_mean_standard_error_and_paper_column():
    recs = [_record("a", "lrp", 2.0), _record("b", "lrp", 4.0), _record("c", "lrp", 12.0),
            _record("a", "random", 5.0), _record("x", "lrp", 100.0)]       # sample x not selected
    t = tables.build(recs, ["lrp"], ["a", "b", "c"])
    cell = t["table1"]["rows"]["lrp"]["pixels"]
    assert cell["n"] == 3 and cell["mean"] == pytest.approx(6.0)
    assert cell["se"] == pytest.approx(math.sqrt(((2 - 6) ** 2 + (4 - 6) ** 2 + (12 - 6) ** 2) / 2 / 3))
    loc = t["table3"]["rows"]["lrp"]["pixels"]                  # one undefined share is left out, counted
    assert loc["n"] == 2 and loc["undefined"] == 1 and loc["mean"] == pytest.approx(30.0)
    assert t["table2"]["rows"]["random"]["superpixels"]["mean"] == 5.0 and t["table2"]["rows"]["random"]["superpixels"]["se"] is None
    assert t["table4"]["rows"]["lrp"]["time"]["mean"] == pytest.approx(6.0)
    assert t["table1"]["paper"]["lrp"] == {"pixels": "11.2 ± 0.5", "superpixels": "6.67 ± 0.25"}
    md = tables.markdown(t)
    assert "| lrp | 6.00 ± 3.06 (n=3) | 3.00 ± 1.53 (n=3) | 11.2 ± 0.5 | 6.67 ± 0.25 |" in md
    c = tables.curves(recs, ["lrp"], ["a", "b", "c"])
    assert c["fractions"] == [0.0, 0.5, 1.0]
    assert c["curves"]["lrp"]["superpixels"]["mean"] == pytest.approx([1.0, 6.0, 0.0])
    assert c["curves"]["random"]["superpixels"]["n"] == 1
