"""PROTOCOL-EXTENSIONS.md's `rooms`: roles, private rooms, invitations,
topics, kicks and bans. Its handlers join the dispatch table through
`HANDLERS`."""

from __future__ import annotations

from .context import Handler, not_yet

HANDLERS: dict[str, Handler] = {kind: not_yet for kind in ("room_info", "topic", "invite", "kick", "ban", "role")}
