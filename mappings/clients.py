"""Which configured client a ticket or a Redmine project belongs to. Pure lookups."""

from __future__ import annotations

from collections.abc import Iterable

from syncd.config import Client


def client_for_organization(org_id: int | None, clients: Iterable[Client]) -> Client | None:
    if org_id is None:
        return None
    return next((c for c in clients if c.zendesk_organization_id == org_id), None)


def client_for_project(project: str, clients: Iterable[Client]) -> Client | None:
    return next((c for c in clients if project in c.redmine_projects), None)
