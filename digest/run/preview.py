"""A dry run's preview: the issue a run would publish now, its page, Markdown and email
written into a folder of the user's (never the output folder), from the rehearsal's
state, which is then rolled back. Nothing else is written: no index, no feeds, no marker,
and notes/next.md stays where it is."""

from __future__ import annotations

from pathlib import Path

from digest.errors import ConfigError
from digest.intake.take_in import Intake
from digest.paths import resolved
from digest.publish.output import OutputWriter
from digest.publish.publisher import Publisher, site_for
from digest.publish.templates import templates_for
from digest.run.context import RunContext
from digest.run.record import record_new_issues, take_notes


def check_folder(preview: Path, output: Path) -> None:
    """The preview goes beside the site, never into it (its index would not know it)."""
    preview, output = resolved(preview, "--preview"), resolved(output, "the output")
    if preview == output or output in preview.parents or preview in output.parents:
        raise ConfigError(
            f"--preview {preview} is the output folder, or holds it, or is inside it",
            "name a folder of its own, e.g. --preview preview/",
        )


def write_preview(context: RunContext, intake: Intake, issue_id: str, seq: int) -> list[str]:
    """Record the would-be issue in the rehearsal, render its files into the preview
    folder, and return their paths (the state's rehearsal is rolled back after)."""
    folder = context.options.preview
    assert folder is not None
    report = context.report
    pending = record_new_issues(context, intake, issue_id, seq)
    issue = next((one for one in pending if one.id == issue_id), None)
    if issue is None:
        return []
    take_notes(context, [issue])  # the note it would take, kept in the rehearsal only
    report.issue_id = None  # a dry run publishes nothing
    writer = OutputWriter(folder)
    # No compiled templates kept (a dry run leaves nothing beside the state), and no
    # owner marker (a preview folder is no site).
    templates = templates_for(context.config.templates, None)
    config = context.config
    publisher = Publisher(config, context.store, writer, site_for(config), claimed=True)
    publisher.__dict__["templates"] = templates  # in place of the cached property's
    older = context.store.issues(before=issue, limit=1)
    with writer.staging_only():
        publisher.stage_issue(issue, older[0] if older else None)
    writer.commit()
    return [str(path) for path in writer.written]
