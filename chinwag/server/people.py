"""PROTOCOL-EXTENSIONS.md's `people`: status and away, blocking, the
display name. Its handlers join the dispatch table through `HANDLERS`.

Status and display name live in the user's `u:` hash, so they outlive the
user's connections: away stays set until the user clears it (a reconnect,
a logout, going offline change nothing), and the status text the same. A
change goes out as `presence` to every `people` connection, the user's
other ones included, on every node (hub.py's `profile`).

Blocking is kept in the blocker's slot and enforced where events go out:
the hub holds the block sets of its logged-in users and drops what a
blocked user sends before it reaches a blocker's connection (hub.py's
`blocked`); the login replay, history, `conversations` and `search` read
past the blocked users' messages (Store's `hidden`). The blocked user
notices nothing: their requests are answered as before.
"""

from __future__ import annotations

from ..protocol import limits
from ..protocol.errors import ErrorCode, RequestError
from ..protocol.messages import Block, Blocks, SetStatus
from ..protocol.messages import Profile as ProfileRequest
from .context import NO_FIELDS, Handler, HandlerContext, Reply, SessionView
from .hub import user_wire


def _throttle(conn: SessionView) -> None:
    """A status or name change goes to everyone online, as a lobby message
    does: it takes from the same rate as sending."""
    wait = conn.send_bucket.take()
    if wait:
        wait = max(wait, 0.01)
        raise RequestError(f"changing too fast; wait {wait:.2f} s", ErrorCode.RATE_LIMITED, retry_after=round(wait, 3))


async def status(ctx: HandlerContext, conn: SessionView, req: SetStatus) -> Reply:
    """Away and the status text, both set by each request (a text left out
    clears it, as the protocol layer reads it)."""
    _throttle(conn)
    profile = await ctx.store.set_status(conn.username, req.away, req.text or "")
    ctx.hub.profile(conn.username, profile, conn)
    return NO_FIELDS


async def profile(ctx: HandlerContext, conn: SessionView, req: ProfileRequest) -> Reply:
    """A new display name (checked like register's by the protocol layer)
    for every connection of the user, on every node."""
    _throttle(conn)
    me = conn.username
    now = await ctx.store.set_display_name(me, req.display_name)
    ctx.hub.profile(me, now, conn)  # renames this connection too
    return Reply({"user": user_wire(me, now, people=limits.FEATURE_PEOPLE in conn.features)})


async def block(ctx: HandlerContext, conn: SessionView, req: Block) -> Reply:
    """Silent both ways: the blocked user is told nothing, and blocking
    someone already blocked (or unblocking someone who is not) is `ok`."""
    me = conn.username
    if req.user == me:
        raise RequestError("you cannot block yourself", ErrorCode.BAD_REQUEST)
    if not await ctx.store.user_exists(req.user):
        raise RequestError(f"there is no user '{req.user}'", ErrorCode.NO_SUCH_USER)
    _throttle(conn)  # each change is a write and an event to every node
    if await ctx.store.set_block(me, req.user, req.on) or ctx.hub.blocked(me, req.user) != req.on:
        ctx.hub.block(me, req.user, req.on)
    return NO_FIELDS


async def blocks(ctx: HandlerContext, conn: SessionView, req: Blocks) -> Reply:
    """Read from Redis, not the hub's copy: the truth, sorted."""
    return Reply({"users": sorted(await ctx.store.blocks(conn.username))})


HANDLERS: dict[str, Handler] = {"status": status, "block": block, "blocks": blocks, "profile": profile}
