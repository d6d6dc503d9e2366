"""The fault soak, short: a few faults in a small sweep on the fake autoscaling cluster, beside
the rest of the suite (benchmarks/faults/fault_soak.py; the long runs, and this one beside a busy
loop on one core and on every core, are in benchmarks/faults/README.md).

No busy loop of its own: the other pytest worker's sweeps keep the machine busy (the suite
keeps both cores about 90% busy), and a loop would take a core from them for the soak's
whole minute."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_short_fault_soak_keeps_every_invariant_beside_the_rest_of_the_suite(tmp_path):
    record = tmp_path / "soak.json"
    r = subprocess.run(
        [sys.executable, "-m", "benchmarks.faults.fault_soak", "--faults", "4", "--num-samples",
         "4", "--seed", "3", "--max-gap", "8", "--min-workers", "2",
         "--score-checks", "2", "--workdir", str(tmp_path / "work"), "--json", str(record)],
        capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert record.is_file(), r.stdout[-3000:] + r.stderr[-3000:]
    soak = json.loads(record.read_text())
    failed = [c for c in soak["invariants"] if not c["holds"]]
    assert not failed and r.returncode == 0, (failed, r.stdout[-3000:])
    assert len(soak["faults"]) == 4
    assert [c["invariant"] for c in soak["invariants"]] == [
        "trials", "seeds", "rows", "scores", "summary", "drivers"]
