"""Deliveries: one row per recipient (or channel) and issue, claimed before sending."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from digest.dates import moment_text, parse_moment
from digest.model import DeliveryStatus, Medium
from digest.store.records import Delivery, DeliveryUpdate
from digest.store.sql.hooks import SqlBase


class DeliveryQueries(SqlBase):
    def deliveries(self, issue_id: str, medium: Medium = Medium.EMAIL) -> dict[str, Delivery]:
        rows = self._execute(
            "SELECT recipient, status, at, message_id, reason FROM deliveries "
            "WHERE issue_id = ? AND medium = ? ORDER BY recipient",
            (issue_id, medium.value),
        )
        return {
            recipient: Delivery(recipient, DeliveryStatus(status), parse_moment(at), mid, reason)
            for recipient, status, at, mid, reason in rows
        }

    def issues_with_failed_deliveries(self, medium: Medium = Medium.EMAIL) -> list[str]:
        rows = self._execute(
            "SELECT DISTINCT issue_id FROM deliveries WHERE medium = ? AND status = ? "
            "ORDER BY issue_id",
            (medium.value, DeliveryStatus.FAILED.value),
        )
        return [issue_id for (issue_id,) in rows]

    def claim_deliveries(
        self,
        issue_id: str,
        recipients: Sequence[str],
        message_id: str,
        now: dt.datetime,
        *,
        force: bool = False,
        medium: Medium = Medium.EMAIL,
    ) -> list[str]:
        blocking = ", ".join(f"'{s.value}'" for s in DeliveryStatus if s.may_have_arrived)
        guard = "" if force else f" WHERE deliveries.status NOT IN ({blocking})"
        claimed: list[str] = []
        with self.transaction():
            for recipient in recipients:
                row = self._one(
                    "INSERT INTO deliveries (issue_id, medium, recipient, status, at, message_id) "
                    "VALUES (?, ?, ?, 'claimed', ?, ?) "
                    "ON CONFLICT (issue_id, medium, recipient) DO UPDATE "
                    "SET status = 'claimed', at = excluded.at, message_id = excluded.message_id, "
                    f"reason = NULL{guard} RETURNING recipient",
                    (issue_id, medium.value, recipient, moment_text(now), message_id),
                )
                if row is not None:
                    claimed.append(row[0])
        return claimed

    def settle_deliveries(
        self,
        issue_id: str,
        updates: Sequence[DeliveryUpdate],
        now: dt.datetime,
        medium: Medium = Medium.EMAIL,
    ) -> None:
        with self.transaction():
            self._executemany(
                "UPDATE deliveries SET status = ?, reason = ?, at = ? "
                "WHERE issue_id = ? AND medium = ? AND recipient = ?",
                [
                    (
                        u.status.value,
                        u.reason,
                        moment_text(now),
                        issue_id,
                        medium.value,
                        u.recipient,
                    )
                    for u in updates
                ],
            )
