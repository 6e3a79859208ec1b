"""What a user asks for besides a run, each under the state's lock: send an issue, post
it to chat, render everything again, copy a state. (``pipeline.run`` is the run.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from digest.config.settings import Config
from digest.deliver import delivery, notify
from digest.errors import ConfigError, NoteNotRebuilt, NotFound
from digest.publish.notes import NotesFolder, parse
from digest.publish.ownership import check_output
from digest.publish.publisher import Publisher, writer_for
from digest.store import Store, open_store
from digest.store.copy import CopyReport, copy_state


def post(
    config: Config,
    issue_id: str | None,
    *,
    channel: str | None = None,
    force: bool = False,
    wait: float = 60.0,
) -> notify.PostOutcome:
    """``digest post``: an issue to each chat channel that has not had it, under the lock."""
    with open_store(config, create=False) as store, store.lock("run", wait):
        publisher = Publisher.for_config(config, store, writer_for(config, store))
        return notify.post_issue(
            config, publisher, issue_id, channel=channel, force=force, now=dt.datetime.now(dt.UTC)
        )


def send(
    config: Config,
    issue_id: str | None,
    *,
    recipients: list[str] | None = None,
    smtp: str | None = None,
    force: bool = False,
    wait: float = 60.0,
    now: dt.datetime | None = None,
) -> delivery.SendOutcome:
    """``digest send``: an issue to each recipient who has not had it, under the lock."""
    with open_store(config, create=False) as store, store.lock("run", wait):
        refuse_an_unbuilt_edit(config, store, issue_id)
        publisher = Publisher.for_config(config, store, writer_for(config, store))
        return delivery.send_issue(
            config,
            publisher,
            issue_id,
            recipients=recipients,
            smtp=smtp,
            force=force,
            now=now or dt.datetime.now(dt.UTC),
        )


def refuse_an_unbuilt_edit(config: Config, store: Store, issue_id: str | None) -> None:
    """An editor who changed ``notes/<id>.md`` after the run expects the change in what
    is sent; the issue's email is built from the note the state holds, so until a rebuild
    takes the edit in, sending would mail the old text. (The page would disagree too.)"""
    issue = store.issue(issue_id)
    if issue is None:
        return  # send_issue says that there is no such issue
    if NotesFolder(config.notes).edited(issue.id, store.note(issue.seq)) is not None:
        raise NoteNotRebuilt(
            f"notes/{issue.id}.md changed after issue {issue.id} was built: "
            "sending now would send the old note",
            f"'digest rebuild {issue.id}' puts the edit on the page and in the email; "
            "read it there, then 'digest send'",
        )


def _refuse_a_note_that_would_return(folder: NotesFolder, issue_id: str) -> None:
    """A note removed while its file is still there would come back with the next
    rebuild of the issue (the file is the note's source): the file goes first."""
    if folder.own(issue_id) is not None:
        raise ConfigError(
            f"notes/{issue_id}.md is still there: the next rebuild would take it in again",
            f"delete or rename it, then 'digest rebuild {issue_id} --no-note'",
        )


def copy(source: Config, target: Config) -> CopyReport:
    """``digest state copy``: one site's whole state into an empty one, both locked."""
    same = source.state == target.state or (
        isinstance(source.state, Path)
        and isinstance(target.state, Path)
        and source.state.resolve() == target.state.resolve()
    )
    if same and source.site == target.site:  # it would wait for its own lock, then give up
        raise ConfigError(
            f"cannot copy the state {source.state} of site {source.site!r} into itself",
            "name another state as TO (or another site with --to-site)",
        )
    with (
        open_store(source, create=False) as src,
        src.lock("run", 60.0),
        open_store(target) as dst,
        dst.lock("run", 60.0),
    ):
        return copy_state(src, dst)


def rebuild(
    config: Config,
    issue_id: str | None = None,
    *,
    wait: float = 0.0,
    adopt_output: bool = False,
    no_note: bool = False,
) -> list[str]:
    """Render every output again from the state (after a template change), or one issue's
    (after its note was edited: ``notes/<id>.md`` as it is now is taken in first; with
    ``no_note``, the issue's note is removed: a deleted file alone removes nothing)."""
    with open_store(config, create=False) as store, store.lock("run", wait):
        writer = writer_for(config, store)
        check_output(store, writer, adopt=adopt_output)
        writer.remove_stale_temp_files()  # a killed rebuild's (or run's) staged files
        publisher = Publisher.for_config(config, store, writer)
        folder = NotesFolder(config.notes)
        if issue_id is None:
            issues = store.issues()
        else:
            one = store.issue(issue_id)
            if one is None:
                raise NotFound(f"no issue {issue_id!r}", "'digest status' lists the issues")
            issues = [one]
        if not issues:
            raise NotFound("nothing published yet", "run 'digest run' first")
        if no_note:
            _refuse_a_note_that_would_return(folder, issues[0].id)
        with store.transaction(), writer.staging_only():
            for issue in issues:
                edited = folder.edited(issue.id, store.note(issue.seq))
                if no_note:
                    store.remove_note(issue.seq)
                elif edited is not None:
                    parse(edited, f"notes/{issue.id}.md")  # a broken edit fails here
                    store.set_note(issue.seq, edited)
            if issue_id is None:
                publisher.stage_everything()
            else:
                publisher.stage(issues, link_neighbours=False)
        return [str(path) for path in publisher.put_in_place(issues)]
