"""The state: every file taken in, every paper seen, every issue published, every run,
every delivery. ``open_store`` picks the backend the config names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from digest.store.base import Store
from digest.store.records import (
    Counts,
    CutAbstract,
    Delivery,
    DeliveryUpdate,
    KnownFile,
    KnownPaper,
    LockKind,
    RunRecord,
)
from digest.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from digest.config.settings import Config

__all__ = [
    "Counts",
    "CutAbstract",
    "Delivery",
    "DeliveryUpdate",
    "KnownFile",
    "KnownPaper",
    "LockKind",
    "RunRecord",
    "SqliteStore",
    "Store",
    "memory_store",
    "open_store",
]


def memory_store(site: str = "default") -> Store:
    """An empty state that lives as long as the process (a dry run with no state yet)."""
    from pathlib import Path

    return SqliteStore(Path(":memory:"), site=site)


def open_store(config: Config, *, create: bool = True) -> Store:
    """The config's state, migrated to this version's schema (created if need be)."""
    from digest.config.settings import PostgresState

    if isinstance(config.state, PostgresState):
        from digest.store.postgres import PostgresStore

        return PostgresStore(config.state, site=config.site, create=create)
    return SqliteStore(config.state, create=create, site=config.site)
