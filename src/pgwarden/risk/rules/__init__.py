"""The rule registry: one module per rule, listed explicitly so adding a rule is one line here.

Each module is a :class:`~pgwarden.risk.rule.StatementRule`: ``ID`` (its module name with
dashes, also the name of docs/rules/<ID>.md), ``CATEGORY``, ``SUGGESTION``, ``NODES``
(statement node types it inspects, None for every statement), optionally ``SUBCOMMANDS`` (the
ALTER TABLE subcommands it inspects) and ``check(stmt, ctx) -> Iterable[Hit]``. ``tools/new_rule.py``
writes a new one with its test and doc.

A few rules are about what no statement check can see (a statement that does not parse, an
ignore without a reason, the tool's history): their modules are plain :class:`~pgwarden.risk.rule.Rule`
with a pure function building the finding, called by the engine or the plan step. ``ALL_RULES``
lists every rule, so each id has its module, its page and its tests.
"""

from __future__ import annotations

from pgwarden.risk.rule import Rule, StatementRule
from pgwarden.risk.rules import (
    add_column_volatile_default,
    backfill_under_lock,
    change_column_type,
    cluster,
    concurrent_index_if_not_exists,
    concurrently_in_prisma_migration,
    concurrently_in_transaction,
    delete_with_where,
    delete_without_where,
    drop_column,
    drop_database,
    drop_schema,
    drop_table,
    edited_after_apply,
    enum_value_removed_in_use,
    enum_value_used_in_transaction,
    explicit_lock,
    extension_unavailable,
    failed_migration,
    history_missing,
    ignore_without_reason,
    insert_select_copy,
    lock_footprint,
    narrow_column_type,
    not_null_column_without_default,
    rehearsal_failed,
    rehearsal_long_lock,
    rename_column,
    rename_table,
    require_concurrent_index,
    require_concurrent_index_drop,
    require_concurrent_refresh,
    require_concurrent_reindex,
    require_lock_timeout,
    require_not_valid_check,
    require_not_valid_foreign_key,
    require_unique_using_index,
    set_logged_unlogged,
    set_not_null,
    sql_unavailable,
    syntax_error,
    transaction_in_prisma_migration,
    truncate_table,
    unique_on_duplicate_values,
    update_without_where,
    vacuum_full,
    validate_constraint_same_transaction,
)

RULES: list[StatementRule] = [
    # data loss
    drop_table,
    drop_column,
    drop_schema,
    drop_database,
    truncate_table,
    delete_without_where,
    delete_with_where,
    update_without_where,
    narrow_column_type,
    # table rewrites
    change_column_type,
    add_column_volatile_default,
    set_logged_unlogged,
    vacuum_full,
    cluster,
    # blocking locks
    require_concurrent_index,
    require_concurrent_index_drop,
    require_concurrent_reindex,
    require_not_valid_foreign_key,
    require_not_valid_check,
    validate_constraint_same_transaction,
    set_not_null,
    require_unique_using_index,
    require_concurrent_refresh,
    explicit_lock,
    require_lock_timeout,
    backfill_under_lock,
    insert_select_copy,
    lock_footprint,
    # backward-incompatible
    rename_table,
    rename_column,
    not_null_column_without_default,
    # transaction safety
    concurrently_in_transaction,
    concurrently_in_prisma_migration,
    enum_value_used_in_transaction,
    concurrent_index_if_not_exists,
    transaction_in_prisma_migration,
    # will fail (live context)
    extension_unavailable,
    unique_on_duplicate_values,
    enum_value_removed_in_use,
]

#: Rules whose findings the engine (parse errors, ignore directives) or the plan step (the tool's
#: history, a rehearsal's measurements) builds directly, since no statement check can see what they are about.
OTHER_RULES: list[Rule] = [
    syntax_error,
    ignore_without_reason,
    failed_migration,
    edited_after_apply,
    history_missing,
    sql_unavailable,
    rehearsal_failed,
    rehearsal_long_lock,
]

ALL_RULES: list[Rule] = [*RULES, *OTHER_RULES]
