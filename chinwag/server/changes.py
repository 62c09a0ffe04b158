"""The handlers of PROTOCOL-EXTENSIONS.md's `messages`, `read` and `search`
requests: edit, delete, react, read, search.

They work like the handlers of handlers.py (validate access, call the store
and the hub through the context, return a `Reply`) and are registered in its
HANDLERS table. A request of a feature's type is answered on any connection,
whether or not it negotiated the feature; what the feature decides is which
events and fields a connection gets (hub.py, handlers.py's replay).

Edits, deletes and reactions are writes to a conversation that every member's
devices receive, like messages: they take from the connection's send rate.
"""

from __future__ import annotations

from ..protocol import limits
from ..protocol.errors import ErrorCode, RequestError
from ..protocol.messages import Address, Delete, Edit, React, Read, Search
from .context import NO_FIELDS, HandlerContext, Reply, SessionView
from .conv import conv_id, is_room, room_id, room_of
from .rooms import hidden, no_such_room
from .statuses import ChangeKind, ChangeResult, ChangeStatus
from .store import StoredChange


async def conversation(ctx: HandlerContext, conn: SessionView, address: Address) -> str:
    """The conversation `address` names for the caller, who must be in it:
    `no_such_room`, `not_member` or `no_such_user` otherwise."""
    me = conn.username
    if address.is_room:
        cid = room_id(address.name)
        if cid not in conn.convs and not await ctx.store.is_member(cid, me):
            if await hidden(ctx, address.name, me):
                raise no_such_room(address.name)
            raise RequestError(f"you are not in {address}", ErrorCode.NOT_MEMBER)
        return cid
    if not await ctx.store.user_exists(address.name):
        raise RequestError(f"there is no user '{address.name}'", ErrorCode.NO_SUCH_USER)
    return conv_id(me, address)


async def may_moderate(ctx: HandlerContext, conn: SessionView, cid: str) -> bool:
    """Whether the caller may delete other people's messages in conversation
    `cid`: the one place that decides it. A room's owners and moderators,
    and the server's admins (PROTOCOL-EXTENSIONS.md, `messages` and `rooms`)."""
    store, me = ctx.store, conn.username
    if is_room(cid) and await store.room_role(room_of(cid), me) in (limits.ROLE_OWNER, limits.ROLE_MODERATOR):
        return True
    return await store.is_admin(me)


def _throttle(conn: SessionView) -> None:
    wait = conn.send_bucket.take()
    if wait:
        wait = max(wait, 0.01)
        raise RequestError(f"changing too fast; wait {wait:.2f} s", ErrorCode.RATE_LIMITED, retry_after=round(wait, 3))


def _refused(result: ChangeResult, address: Address, mid: str, doing: str) -> None:
    """The protocol error for a change the store refused (DONE and UNCHANGED pass)."""
    status = result.status
    if status is ChangeStatus.NO_SUCH_MESSAGE:
        raise RequestError(f"there is no message {mid} in {address} to {doing}", ErrorCode.NO_SUCH_MESSAGE)
    if status is ChangeStatus.FORBIDDEN:
        if doing == "delete" and address.is_room:
            raise RequestError(
                f"only its author, an owner or moderator of {address}, or a server admin can delete that message",
                ErrorCode.FORBIDDEN,
            )
        raise RequestError(f"only its author can {doing} that message", ErrorCode.FORBIDDEN)
    if status is ChangeStatus.TOO_MANY:
        raise RequestError(
            f"a message has at most {limits.REACTIONS_MAX} different reactions; add to one of those",
            ErrorCode.TOO_LARGE,
        )


async def edit(ctx: HandlerContext, conn: SessionView, req: Edit) -> Reply:
    cid = await conversation(ctx, conn, req.conv)
    _throttle(conn)
    me = conn.username
    result = await ctx.store.edit(cid, req.mid, me, req.text)
    _refused(result, req.conv, req.mid, "edit")
    ctx.hub.change(
        StoredChange(result.id, cid, ChangeKind.EDITED, req.mid, me, req.text, result.edited, prev=result.prev)
    )
    return Reply({"edited": result.edited})


async def delete(ctx: HandlerContext, conn: SessionView, req: Delete) -> Reply:
    """Idempotent: deleting a deleted message is `ok` and changes nothing, so
    a retry after `internal` is safe."""
    cid = await conversation(ctx, conn, req.conv)
    _throttle(conn)
    me = conn.username
    result = await ctx.store.delete(cid, req.mid, me, moderator=False)
    if result.status is ChangeStatus.FORBIDDEN and await may_moderate(ctx, conn, cid):
        result = await ctx.store.delete(cid, req.mid, me, moderator=True)
    _refused(result, req.conv, req.mid, "delete")
    if result.status is ChangeStatus.DONE:
        ctx.hub.change(StoredChange(result.id, cid, ChangeKind.DELETED, req.mid, me, prev=result.prev))
    return NO_FIELDS


async def react(ctx: HandlerContext, conn: SessionView, req: React) -> Reply:
    cid = await conversation(ctx, conn, req.conv)
    _throttle(conn)
    me = conn.username
    result = await ctx.store.react(cid, req.mid, me, req.emoji, req.on)
    _refused(result, req.conv, req.mid, "react to")
    if result.status is ChangeStatus.DONE:
        ctx.hub.change(
            StoredChange(result.id, cid, ChangeKind.REACTION, req.mid, me, emoji=req.emoji, on=req.on, prev=result.prev)
        )
    return NO_FIELDS


async def read(ctx: HandlerContext, conn: SessionView, req: Read) -> Reply:
    """Move the read marker forward and tell the user's other `read`
    connections. `upto` must name a message of the conversation: a request
    gets `no_such_message`, a notification is ignored."""
    cid = await conversation(ctx, conn, req.conv)
    if not await ctx.store.is_message(cid, req.upto):
        if req.id is None:
            return NO_FIELDS
        raise RequestError(f"there is no message {req.upto} in {req.conv}", ErrorCode.NO_SUCH_MESSAGE)
    me = conn.username
    if await ctx.store.move_marker(me, cid, req.upto):
        ctx.hub.read(me, cid, req.upto, conn)
    return NO_FIELDS


async def search(ctx: HandlerContext, conn: SessionView, req: Search) -> Reply:
    """Answered by the node's search index, if it has one."""
    if ctx.searcher is None:
        raise RequestError("this server has no search index", ErrorCode.UNAVAILABLE)
    return await ctx.searcher(ctx, conn, req)
