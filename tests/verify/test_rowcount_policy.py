"""RowCountPolicy, the one decision on row counts: exact after a restore, a tolerance after a deploy."""

from __future__ import annotations

from pgwarden.pipeline.rowcounts import RowCount, RowCountPolicy

AFTER_RESTORE = RowCountPolicy.for_restore(0.05)
AFTER_DEPLOY = RowCountPolicy.for_deploy(0.05)


def test_after_a_restore_one_row_missing_or_added_fails() -> None:
    for after in (299, 301):
        judged = AFTER_RESTORE.judge([RowCount("public.customers", 300, after, exact=True)])
        assert judged.problems == [f"public.customers: {after} rows, backup had 300"]
    assert not AFTER_RESTORE.judge([RowCount("public.customers", 300, 300, exact=True)]).problems


def test_after_a_deploy_a_drop_within_the_tolerance_passes_and_growth_is_reported() -> None:
    judged = AFTER_DEPLOY.judge([
        RowCount("public.a", 300, 285, exact=True),  # -5 %: at the tolerance
        RowCount("public.b", 300, 284, exact=True),  # beyond it
        RowCount("public.c", 300, 400, exact=True),  # growth: live traffic
    ])
    assert judged.problems == ["public.b: 300 -> 284 rows (-5.3%)"]
    assert judged.grew == ["public.c: 300 -> 400 (+33.3%)"]


def test_estimates_after_a_restore_drift_as_a_warning_and_a_gone_table_fails_either_way() -> None:
    judged = AFTER_RESTORE.judge([RowCount("public.big", 1000, 1040, exact=False),
                                  RowCount("public.bigger", 1000, 1100, exact=False)])
    assert not judged.problems and judged.drifted == ["public.bigger: 1100 rows, estimate was 1000"]
    for policy in (AFTER_RESTORE, AFTER_DEPLOY):
        gone = policy.judge([RowCount("public.t", 7, None, exact=True, label="public.t (hash partitions)")])
        assert gone.problems == ["public.t (hash partitions) is missing (the backup had 7 rows)"]


def test_allowance_rounds_up_and_an_estimate_may_always_be_one_row_off() -> None:
    assert AFTER_DEPLOY.allowance(30, exact=True) == 2
    assert RowCountPolicy.for_deploy(0.07).allowance(100, exact=True) == 7  # not 8 from 7.000000000000001
    assert RowCountPolicy.for_deploy(0.0).allowance(1000, exact=True) == 0
    assert RowCountPolicy.for_restore(0.0).allowance(0, exact=False) == 1
