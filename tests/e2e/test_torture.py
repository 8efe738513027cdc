"""The short form of the crash torture (issue 18; `cargo xtask torture` runs the long one): the
broker killed with SIGKILL under idempotent acks=all producers and a committing consumer group,
restarted, and checked after every cycle (see `torture.py`): nothing acknowledged lost or
duplicated, offsets dense, every batch's CRC valid on disk and through Fetch, committed offsets
never behind the last acknowledged commit. The second test also damages segment tails, indexes
and checkpoint files between cycles. Fixed seeds, so that a failure can be replayed with
`cargo xtask torture --seed S`."""

import torture
from conftest import BROKER_BIN


def run(**kwargs):
    report = torture.run(BROKER_BIN, **kwargs)
    print(torture.summary(report))
    assert report["problems"] == [], torture.summary(report)
    assert report["lost"] == 0 and report["duplicated"] == 0 and report["misplaced"] == 0
    assert report["acknowledged"] > 0
    return report


def test_sigkill_cycles_lose_and_duplicate_nothing():
    r = run(cycles=10, seed=1810, max_run=2.5)
    assert r["cycles"] == 10
    assert r["destroyed_by_corruption"] == 0


def test_recovery_repairs_corrupted_files():
    r = run(cycles=8, seed=1811, corrupt_files=True, max_run=2.5)
    assert r["cycles"] == 8
    assert len(r["corruptions"]) == 8
