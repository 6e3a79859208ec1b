"""What ``digest status`` reports: the state's contents, the last run, the schedule."""

from __future__ import annotations

import datetime as dt
from operator import itemgetter
from typing import Any

from digest.config import Config
from digest.diff import inbox_listing
from digest.loader import size_limit_message
from digest.store import Store


def collect(config: Config, now: dt.datetime | None = None) -> dict[str, Any]:
    from digest import schedule

    now = now or dt.datetime.now(dt.UTC)
    info: dict[str, Any] = {
        "state": str(config.state),
        "inbox": str(config.inbox),
        "output": str(config.output),
        "schedule": schedule.describe(config, now),
    }
    if not config.state.exists():
        info.update(
            files=0,
            papers=0,
            issues=0,
            last_run=None,
            latest_issue=None,
            rejected=[],
            waiting=len(inbox_listing(config.inbox)),
        )
        return info
    with Store(config.state, create=False) as store:
        counts = store.counts()
        run = store.last_run()
        latest = store.issue(None)
        remembered = store.inbox_fingerprints()
        waiting = 0
        oversized = []
        for path, stat in sorted(inbox_listing(config.inbox), key=itemgetter(0)):
            if isinstance(stat, OSError):
                continue  # the next run reports it
            if stat.st_size > config.max_file_size:
                oversized.append({"file": path, "reason": size_limit_message(config.max_file_size)})
            elif (path, stat.st_size, stat.st_mtime_ns) not in remembered:
                waiting += 1
        info.update(
            files=counts.files,
            papers=counts.papers,
            issues=counts.issues,
            schema_version=store.schema_version,
            waiting=waiting,
            rejected=[{"file": path, "reason": reason} for path, reason in store.rejections()]
            + oversized,
            latest_issue=latest
            and {
                "id": latest.id,
                "papers": latest.paper_count,
                "published_at": latest.published_at.isoformat(),
                "delivered_to": sorted(store.delivered_to(latest.id)),
            },
            last_run=run
            and {
                "started_at": run.started_at.isoformat(),
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                "result": run.result,
                "issue": run.issue_id,
                "new_papers": run.new_papers,
                "papers_parsed": run.papers_parsed,
                "error": run.error,
            },
        )
    return info


def as_text(info: dict[str, Any]) -> str:
    lines = [
        f"state:    {info['state']}",
        f"inbox:    {info['inbox']} ({info['waiting']} file(s) waiting)",
        f"output:   {info['output']}",
        f"store:    {info['files']:,} files, {info['papers']:,} papers, {info['issues']:,} issues",
    ]
    latest = info.get("latest_issue")
    if latest:
        sent = ", ".join(latest["delivered_to"]) or "not sent"
        lines.append(f"latest:   issue {latest['id']}, {latest['papers']:,} papers ({sent})")
    run = info.get("last_run")
    if run:
        line = f"last run: {run['started_at']} → {run['result']}"
        if run["issue"]:
            line += f", issue {run['issue']}"
        lines.append(line)
        if run["error"]:
            lines.append(f"          error: {run['error']}")
    else:
        lines.append("last run: never")
    schedule = info.get("schedule") or {}
    if schedule.get("description"):
        lines.append(f"schedule: {schedule['description']}")
        if schedule.get("next_run"):
            lines.append(f"next run: {schedule['next_run']}")
    for rejected in info.get("rejected", []):
        lines.append(f"rejected: {rejected['file']}: {rejected['reason']}")
    return "\n".join(lines)
