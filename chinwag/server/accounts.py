"""Accounts: the password change, the sessions list and revoke (the
`people` feature's account requests). Its handlers join the dispatch table
through `HANDLERS`."""

from __future__ import annotations

from .context import Handler, not_yet

HANDLERS: dict[str, Handler] = {kind: not_yet for kind in ("password", "sessions", "revoke")}
