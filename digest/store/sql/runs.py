"""Settings, runs, the state's counts, and what the daemon and the pings leave behind.

The last ping and the daemon's heartbeat are settings holding JSON, read and written here
only, as typed records."""

from __future__ import annotations

import datetime as dt
import json

from digest.dates import moment_text, parse_moment
from digest.model import RunResult
from digest.store.records import Counts, Heartbeat, PingRecord, RunRecord
from digest.store.sql.hooks import SqlBase


class RunQueries(SqlBase):
    def setting(self, name: str) -> str | None:
        value: str | None = self._scalar("SELECT value FROM settings WHERE name = ?", (name,))
        return value

    def set_setting(self, name: str, value: str) -> None:
        self._execute(
            "INSERT INTO settings (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def start_run(self, started_at: dt.datetime, host: str, pid: int) -> int:
        self._execute(
            "UPDATE runs SET result = ? WHERE result = ?",
            (RunResult.INTERRUPTED.value, RunResult.RUNNING.value),
        )
        return int(
            self._scalar(
                "INSERT INTO runs (started_at, result, host, pid) VALUES (?, ?, ?, ?) RETURNING id",
                (moment_text(started_at), RunResult.RUNNING.value, host, pid),
            )
        )

    def finish_run(
        self,
        run_id: int,
        finished_at: dt.datetime,
        result: RunResult,
        *,
        issue_id: str | None = None,
        new_papers: int = 0,
        papers_parsed: int = 0,
        error: str | None = None,
        summary: dict | None = None,
    ) -> None:
        self._execute(
            "UPDATE runs SET finished_at = ?, result = ?, issue_id = ?, new_papers = ?, "
            "papers_parsed = ?, error = ?, summary = ? WHERE id = ?",
            (
                moment_text(finished_at),
                result.value,
                issue_id,
                new_papers,
                papers_parsed,
                error,
                json.dumps(summary or {}, sort_keys=True),
                run_id,
            ),
        )

    def last_run(self, *, successful: bool = False) -> RunRecord | None:
        where = "WHERE result IN ('published', 'nothing-new') " if successful else ""
        row = self._one(
            "SELECT id, started_at, finished_at, result, issue_id, new_papers, papers_parsed, "
            f"error, summary, host, pid FROM runs {where}ORDER BY id DESC LIMIT 1"
        )
        if row is None:
            return None
        run_id, started, finished, result, issue_id, new, parsed, error, summary, host, pid = row
        return RunRecord(
            run_id,
            parse_moment(started),
            parse_moment(finished) if finished else None,
            RunResult(result),
            issue_id,
            new,
            parsed,
            error,
            json.loads(summary) if summary else {},
            host,
            pid,
        )

    def counts(self) -> Counts:
        return Counts(
            files=int(self._scalar("SELECT count(*) FROM files")),
            papers=int(self._scalar("SELECT count(*) FROM papers")),
            issues=int(self._scalar("SELECT count(*) FROM issues")),
            rejected_files=int(self._scalar("SELECT count(*) FROM rejections")),
        )

    def record_ping(self, ping: PingRecord) -> None:
        record = {
            "at": moment_text(ping.at),
            "kind": ping.kind,
            "ok": ping.ok,
            "to": ping.to,
            "error": ping.error,
        }
        self.set_setting("last_ping", json.dumps(record, sort_keys=True))

    def last_ping(self) -> PingRecord | None:
        text = self.setting("last_ping")
        if text is None:
            return None
        record = json.loads(text)
        return PingRecord(
            parse_moment(record["at"]),
            record["kind"],
            bool(record["ok"]),
            record.get("to") or "?",
            record.get("error"),
        )

    def record_heartbeat(self, beat: Heartbeat) -> None:
        record = {"at": moment_text(beat.at), "pid": beat.pid, "host": beat.host}
        self.set_setting("daemon_heartbeat", json.dumps(record, sort_keys=True))

    def last_heartbeat(self) -> Heartbeat | None:
        text = self.setting("daemon_heartbeat")
        if text is None:
            return None
        record = json.loads(text)
        return Heartbeat(
            parse_moment(record["at"]), int(record.get("pid") or 0), str(record.get("host") or "?")
        )
