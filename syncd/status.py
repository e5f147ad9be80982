"""`syncd status`: what the daemon knows, read from the store only (no network)."""

from __future__ import annotations

import json
from typing import Any

from syncd.config import Config
from syncd.state import Store


def collect_status(config: Config) -> dict[str, Any]:
    if not config.state_path.exists():
        return {"state": str(config.state_path), "initialised": False}
    store = Store(config.state_path)
    try:
        links = store.links()
        origins: dict[str, int] = {}
        for link in links:
            origins[link["origin"]] = origins.get(link["origin"], 0) + 1
        return {
            "state": str(config.state_path),
            "initialised": True,
            "cycles": store.recent_cycles(10),
            "cursors": store.cursors(),
            "links": {"total": len(links), "by_origin": origins},
            "linked_pairs": [
                {
                    "ticket": x["ticket_id"],
                    "issue": x["issue_id"],
                    "client": x["client"],
                    "origin": x["origin"],
                }
                for x in links
            ],
            "failures": store.failures(),
            "pending_effects": store.pending_effects(),
            "conflicts": store.conflicts(),
            "drift": store.drifts(),
            "unassigned_tickets": store.unassigned_tickets(),
            "effects_done": store.effect_counts(),
            "counts": {t: store.count(t) for t in ("tickets", "issues", "time_entries")},
        }
    finally:
        store.close()


def print_status(data: dict[str, Any]) -> None:
    print(f"state: {data['state']}")
    if not data["initialised"]:
        print("no state yet: run `syncd sync` (or `syncd check` first)")
        return
    print("\nlast cycles:")
    if not data["cycles"]:
        print("  none yet")
    for c in data["cycles"]:
        print(
            f"  #{c['id']} {c['command']:<24} {c['started_at'][:19]}  {c['status']:<8} "
            f"{_did(c.get('stats'))}" + (f"  {c['error']}" if c.get("error") else "")
        )
    print("\ncursors:")
    for cur in data["cursors"]:
        print(f"  {cur['name']:<32} {cur['value'][:60]}  (moved {cur['updated_at']})")
    counts = data["counts"]
    print(
        f"\nstore: {counts['tickets']} tickets, {counts['issues']} issues, "
        f"{counts['time_entries']} time entries"
    )
    by_origin = ", ".join(f"{k} {v}" for k, v in sorted(data["links"]["by_origin"].items()))
    print(f"linked pairs: {data['links']['total']}" + (f" ({by_origin})" if by_origin else ""))
    for pair in data["linked_pairs"][:50]:
        print(
            f"  ticket #{pair['ticket']} <-> issue #{pair['issue']}  {pair['client'] or '-'}"
            f"  {pair['origin']}"
        )
    if len(data["linked_pairs"]) > 50:
        print(f"  … and {len(data['linked_pairs']) - 50} more (syncd status --json)")
    _section(
        "failures waiting for retry",
        data["failures"],
        lambda f: f"{f['item']}: {f['reason']} (attempt {f['attempts']}, next {f['next_at']})",
    )
    _section(
        "writes interrupted, checked next cycle",
        data["pending_effects"],
        lambda e: f"{e['key']} since {e['created_at']}",
    )
    _section(
        "adoption conflicts",
        data["conflicts"],
        lambda c: f"issue #{c['issue_id']} names ticket #{c['ticket_id']}: {c['reason']}",
    )
    _section(
        "changed behind syncd's back (links kept, nothing duplicated)",
        data.get("drift") or [],
        lambda d: f"{d['kind']}: {d['detail']} (since {d['seen_at'][:19]})",
    )
    _section(
        "unassigned tickets (tagged, but no configured client)",
        data["unassigned_tickets"],
        lambda t: f"ticket #{t['id']} org {t['organization_id']}: {t['subject']}",
    )


def _did(stats_json: str | None) -> str:
    """What a cycle did, in a few words: only the non-zero figures."""
    if not stats_json:
        return ""
    stats = json.loads(stats_json)
    parts = [
        f"{k.replace('_', ' ')} {v}"
        for k, v in stats.items()
        if v and k not in ("writes", "sources_failed", "config_errors")
    ]
    parts += [f"{k} {v}" for k, v in sorted((stats.get("writes") or {}).items())]
    if stats.get("sources_failed"):
        parts.append("failed: " + ", ".join(stats["sources_failed"]))
    if stats.get("config_errors"):
        parts.append(f"REDMINE SETUP: {stats['config_errors'][0]}")
    return ", ".join(parts) or "nothing to do"


def _section(title: str, rows: list[dict[str, Any]], line: Any) -> None:
    print(f"\n{title}: {len(rows) or 'none'}")
    for row in rows:
        print("  " + line(row))
