"""The runbooks' before / during / after checklists, ticked from what pgwarden really did.

The items are the seeds' checklists (the Laravel runbook's three チェックリスト, plus the
Prisma runbook's "check locks and connections before large DDL"), shown in English only (the
runbook's own wording stays in ``source``, for whoever maps them back). Each item has a
stable id; a step that did the work passes the id with a short piece of evidence, and only
those are ticked. Nothing is ticked on faith: the maintenance window or the stakeholder
notice stay open unless a hook or a human says otherwise.

``render_checklists(done)`` renders them for the final PR comment (collapsed: it ticks backup,
deploy and verify items from their results); the plan-stage comment and ``plan --format markdown``
leave it out, where it added twenty unticked lines to every review.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    text: str
    #: The runbook's own wording, so a reader can match it to the Japanese document.
    source: str


@dataclass(frozen=True)
class Checklist:
    id: str
    title: str
    source: str
    items: tuple[ChecklistItem, ...]


CHECKLISTS: tuple[Checklist, ...] = (
    Checklist(
        "before",
        "Before the migration",
        "マイグレーション実行前チェックリスト",
        (
            ChecklistItem("maintenance-window", "Maintenance window scheduled", "メンテナンス時間の確保"),
            ChecklistItem("notify-stakeholders", "Stakeholders notified in advance", "関係者への事前通知"),
            ChecklistItem("backup-created", "Backup created and verified", "バックアップの作成と確認"),
            ChecklistItem("review", "Migration contents reviewed", "マイグレーション内容のレビュー"),
            ChecklistItem("rollback-plan", "Rollback plan prepared", "ロールバック計画の準備"),
            ChecklistItem("monitoring", "Monitoring in place", "監視体制の確立"),
            ChecklistItem("staging-run", "Dry run on a test or staging environment", "テスト環境での事前実行確認"),
        ),
    ),
    Checklist(
        "during",
        "During the migration",
        "マイグレーション実行中チェックリスト",
        (
            ChecklistItem("maintenance-mode-on", "Maintenance mode enabled", "メンテナンスモードの有効化"),
            ChecklistItem("backup-confirmed", "Backup completion confirmed", "バックアップの作成完了確認"),
            ChecklistItem("locks-checked", "Locks and connections checked before large DDL", "ロック・接続数の確認"),
            ChecklistItem("migrate", "Migration run", "マイグレーション実行"),
            ChecklistItem("error-log", "Error log checked", "エラーログの確認"),
            ChecklistItem("integrity", "Database integrity checked", "データベースの整合性チェック"),
            ChecklistItem("app-check", "Application checked", "アプリケーションの動作確認"),
        ),
    ),
    Checklist(
        "after",
        "After the migration",
        "マイグレーション実行後チェックリスト",
        (
            ChecklistItem("status", "Migration status checked", "マイグレーション状態の確認"),
            ChecklistItem("app-tests", "Application tests run", "アプリケーションの動作テスト"),
            ChecklistItem("performance", "Performance checked", "パフォーマンスの確認"),
            ChecklistItem("logs", "Logs checked", "ログの確認"),
            ChecklistItem("maintenance-mode-off", "Maintenance mode disabled", "メンテナンスモードの解除"),
            ChecklistItem("notify-done", "Stakeholders notified of completion", "関係者への完了通知"),
        ),
    ),
)

ITEM_IDS: frozenset[str] = frozenset(item.id for checklist in CHECKLISTS for item in checklist.items)


def render_checklists(
    done: Mapping[str, str] | Iterable[str],
    *,
    phases: Iterable[str] = ("before", "during", "after"),
    collapsed: bool = True,
    heading: str = "### Runbook checklist",
) -> str:
    """The checklists as GitHub task lists; ``done`` ids are ticked (with their evidence, if a mapping).

    Unknown ids are an error: a typo would silently leave an item unticked.
    """
    evidence: dict[str, str] = dict(done) if isinstance(done, Mapping) else dict.fromkeys(done, "")
    unknown = set(evidence) - ITEM_IDS
    if unknown:
        raise ValueError(
            f"unknown checklist item(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(ITEM_IDS))}"
        )
    wanted = list(phases)
    ticked = sum(1 for c in CHECKLISTS if c.id in wanted for i in c.items if i.id in evidence)
    total = sum(len(c.items) for c in CHECKLISTS if c.id in wanted)
    lines = [heading, ""]
    if collapsed:
        lines += [
            f"<details><summary>{ticked} of {total} items done by pgwarden; the rest are for the team</summary>",
            "",
        ]
    for checklist in CHECKLISTS:
        if checklist.id not in wanted:
            continue
        lines.append(f"**{checklist.title}**")
        lines.append("")
        for item in checklist.items:
            mark = "x" if item.id in evidence else " "
            note = evidence.get(item.id, "")
            lines.append(f"- [{mark}] {item.text}" + (f" — {note}" if note else ""))
        lines.append("")
    if collapsed:
        lines += ["</details>", ""]
    return "\n".join(lines)
