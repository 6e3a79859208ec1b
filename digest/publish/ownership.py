"""Whose output folder this is: a folder holds one state's site, recorded in its marker
(``.digest-owner``) and the state; a run refuses a folder of another state, or one
holding output no state of its own published, before writing anything."""

from __future__ import annotations

import logging

from digest.config.settings import Config
from digest.errors import OwnershipError
from digest.publish.output import OutputWriter
from digest.store import Store

log = logging.getLogger("digest")


def check_output(store: Store, writer: OutputWriter, *, adopt: bool = False) -> bool:
    """Whether the output folder is this state's (True), or may become so (False: the
    marker is to be written before the first file); refused before anything is written.

    A folder that holds no digest output may be claimed. One that holds output and names
    another state, or none, is refused unless ``adopt``: then every file in it stays
    (issue ids present are never reused). A folder from before folders were claimed,
    whose issues are all this state's, is claimed quietly."""
    assert writer.owner is not None
    owner = writer.recorded_owner()
    if owner == writer.owner:
        return True
    if adopt:
        if writer.holds_output():
            log.warning(
                "adopting %s: every file in it stays; new issues never reuse its ids", writer.root
            )
        return False
    if owner is not None:
        raise OwnershipError(
            f"the output folder {writer.root} belongs to another digest state "
            f"(site {owner.site!r}, state id {owner.state_id}); this one is "
            f"{store.location} (site {writer.owner.site!r}, state id {writer.owner.state_id})",
            _ANOTHER_OWNER,
        )
    if writer.holds_output():
        present = writer.issue_ids_present()
        known = {issue.id for issue in store.issues()}
        if not known or not present <= known:
            raise OwnershipError(
                f"the output folder {writer.root} holds digest output that this state "
                f"({store.location}) did not publish",
                _NOT_PUBLISHED_HERE,
            )
        log.info("claiming %s: its issues are all this state's", writer.root)
    return False


_ANOTHER_OWNER = (
    "point --state (or the config's state) at the state that owns it, or use another "
    "output folder; --adopt-output takes it over on purpose, keeping every file in it"
)
_NOT_PUBLISHED_HERE = (
    "point --state (or the config's state) at the state that published it; if that state "
    "is lost, 'digest run --adopt-output --mark-seen' takes the folder over keeping every "
    "file in it, and takes the inbox in as seen"
)


def check_output_for_a_new_state(config: Config, location: str) -> None:
    """``check_output`` for a state that does not exist yet, before it is created: a run
    that a folder holding digest output refuses creates no state file, lock or site."""
    writer = OutputWriter(config.output)
    owner = writer.recorded_owner()
    this = f"a new state at {location} (not created)"
    if owner is not None:
        raise OwnershipError(
            f"the output folder {writer.root} belongs to another digest state "
            f"(site {owner.site!r}, state id {owner.state_id}); this one is {this}",
            _ANOTHER_OWNER,
        )
    if writer.holds_output():
        raise OwnershipError(
            f"the output folder {writer.root} holds digest output that this state "
            f"({this}) did not publish",
            _NOT_PUBLISHED_HERE,
        )


def claim_output(store: Store, writer: OutputWriter) -> None:
    """Record in the folder (and the state) that this state publishes there."""
    writer.claim(replace=writer.recorded_owner() is not None)
    store.set_setting("output", str(writer.root))
