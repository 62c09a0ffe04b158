"""chinwag's `notify` extension (docs/protocol.md): per-conversation
notification levels and highlight keywords, kept by the server so they
follow the user to every device. The server only stores and syncs them; the
client decides, from them, when to notify (it sees the messages anyway).

A level is set only for a conversation the user is in (a direct one
counts before its first message); `notify_settings` lists the levels of the
rooms the user is in now and of their direct conversations (a room left
keeps its stored level, which counts again if they come back)."""

from __future__ import annotations

from typing import Any

from ..protocol import limits
from ..protocol.frames import encode_frame
from ..protocol.messages import GetNotify, SetHighlights, SetNotify
from .changes import conversation
from .context import Handler, HandlerContext, Reply, SessionView
from .conv import address_for, is_room


async def _settings(ctx: HandlerContext, conn: SessionView) -> dict[str, Any]:
    me = conn.username
    levels, words = await ctx.store.notify_settings(me)
    shown = {address_for(cid, me): level for cid, level in levels.items() if cid in conn.convs or not is_room(cid)}
    return {"levels": shown, "words": words}


async def _changed(ctx: HandlerContext, conn: SessionView) -> Reply:
    """The new settings: the reply, and an event to the user's other devices."""
    fields = await _settings(ctx, conn)
    ctx.hub.to_user(conn.username, limits.FEATURE_NOTIFY, encode_frame({"type": "notify_settings", **fields}), conn)
    return Reply(fields)


async def notify_settings(ctx: HandlerContext, conn: SessionView, req: GetNotify) -> Reply:
    return Reply(await _settings(ctx, conn))


async def set_notify(ctx: HandlerContext, conn: SessionView, req: SetNotify) -> Reply:
    cid = await conversation(ctx, conn, req.conv)
    await ctx.store.set_notify_level(conn.username, cid, req.level)
    return await _changed(ctx, conn)


async def set_highlights(ctx: HandlerContext, conn: SessionView, req: SetHighlights) -> Reply:
    await ctx.store.set_highlights(conn.username, req.words)
    return await _changed(ctx, conn)


HANDLERS: dict[str, Handler] = {
    "notify_settings": notify_settings,
    "notify": set_notify,
    "highlights": set_highlights,
}
