"""PROTOCOL-EXTENSIONS.md's `people`: status and away, blocking, the
display name. Its handlers join the dispatch table through `HANDLERS`."""

from __future__ import annotations

from .context import Handler, not_yet

HANDLERS: dict[str, Handler] = {kind: not_yet for kind in ("status", "block", "blocks", "profile")}
