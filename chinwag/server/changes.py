"""The handlers of PROTOCOL-EXTENSIONS.md's `messages`, `read` and `search`
requests: edit, delete, react, read, search.

They work like the handlers of handlers.py (validate access, call the store
and the hub through the context, return a `Reply`) and are registered in its
HANDLERS table. A request of a feature's type is answered on any connection,
whether or not it negotiated the feature; what the feature decides is which
events and fields a connection gets (hub.py, handlers.py's replay).
"""

from __future__ import annotations

from ..protocol.errors import ErrorCode, RequestError
from ..protocol.messages import Search
from .context import HandlerContext, Reply, SessionView


async def search(ctx: HandlerContext, conn: SessionView, req: Search) -> Reply:
    """Answered by the node's search index, if it has one."""
    if ctx.searcher is None:
        raise RequestError("this server has no search index", ErrorCode.UNAVAILABLE)
    return await ctx.searcher(ctx, conn, req)
