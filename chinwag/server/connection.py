"""One client connection: bytes in, frames out, requests handled in order.

A thin driver, as in websockets: transport callbacks feed the sans-I/O
decoder; each request is validated into a typed object and queued; one worker
task per busy connection runs the handlers in arrival order, so an `ack`
takes effect before the reply to any later request. Which request is allowed
when, and every change of state, is the sans-I/O `Session`'s (session.py);
the handlers get the node's `HandlerContext` and return a `Reply`, which
this module sends and then runs what it leaves for after it. Replies and events go
through a coalescing writer whose backlog is bounded: a client that stops
reading is told `bye overflow` and dropped, and loses nothing, because its
cursors have not moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import termios
import time
from collections import deque
from collections.abc import Awaitable, Iterable
from typing import Any, Protocol, cast

from ..protocol.errors import ErrorCode, FrameError, ProtocolError, RequestError
from ..protocol.frames import FrameDecoder, encode_frame
from ..protocol.messages import Ack, Pong, Request, Send, parse_request, request_id
from ..protocol.writer import FrameWriter
from .context import HandlerContext, Reply
from .conv import mid_key
from .handlers import HANDLERS, AckBatch, send_begin, send_finish
from .metrics import NO_REQUEST
from .ratelimit import Clock, TokenBucket
from .session import Closed, Outcome, Session, SessionClosed, State
from .settings import Settings
from .store import StorageUnavailable

__all__ = ["Connection", "Node", "State"]

log = logging.getLogger(__name__)

# After `bye`, the server half-closes once its backlog has drained and keeps
# reading (and discarding), so a client still writing does not get a reset
# that would throw away the frames it has not read yet, `bye` included. It
# aborts the socket only once the client has taken no bytes for LINGER_S (a
# slow reader that is still reading gets all of it), or LINGER_S after the
# client has everything and has not closed.
LINGER_S = 10.0
LINGER_TICK_S = 0.1


class Node(Protocol):
    """What a connection needs of its node (the ChatServer)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def context(self) -> HandlerContext: ...

    def admit(self, conn: Connection) -> bool: ...
    def forget(self, conn: Connection) -> None: ...


class Connection(asyncio.Protocol):
    def __init__(self, server: Node) -> None:
        self.server = server
        settings = server.settings
        self.settings = settings
        self.loop = server.loop
        self.clock = server.clock  # the node's: timeouts and rate limits read it
        self.context = server.context
        self.decoder = FrameDecoder(settings.max_frame)
        self.session = Session()
        self.peer_ip = "?"  # the client's IP address ("local" for a Unix socket)
        self.convs: set[str] = set()
        self.transport: asyncio.Transport | None = None
        self.writer: FrameWriter | None = None
        self.last_heard = self.clock()
        self.opened = self.last_heard
        self.pinged = False
        self.send_bucket = TokenBucket(settings.send_rate, settings.send_burst, self.clock)
        self.typing_bucket = TokenBucket(settings.typing_rate, settings.typing_burst, self.clock)
        self.counted_online = False  # this connection is counted in presence
        # TLS: the IP whose place under the per-IP cap this connection took
        # at accept, before its handshake; admit() takes it over
        self.reserved_address: str | None = None
        # requests waiting for the worker; a deque only while there are any (an
        # idle connection holds none: it is ~0.75 KiB, and idle connections are most)
        self._inbox: deque[Request] | None = None
        self.frames_since = 0.0  # perf_counter() when the oldest request in the inbox came (metrics)
        self._worker: asyncio.Task[None] | None = None
        # what arrives during a login replay: (conv, mid or change id, frame),
        # or ("", "", frame) for an event outside a conversation's order
        self._replay_buffer: list[tuple[str, str, bytes]] | None = None
        self._replay_bytes = 0  # bytes in _replay_buffer
        self._lost = False  # the transport reported connection_lost
        # the transport asked us to stop writing (pause_writing); a paced replay
        # waits on _resume until it may go on (no Event per connection: ~1 KiB)
        self._paused = False
        self._resume: asyncio.Future[None] | None = None
        # conv id -> the newest mid or change id an event sent to it named
        self.delivered_upto: dict[str, str] = {}
        # conv id -> the newest entry a login replay covered, where that is past
        # what its events named (the changes folded into the replayed
        # messages; messages a version 1 view leaves out); until a live event
        self.covered_upto: dict[str, str] = {}
        self._cursor_write: Awaitable[Any] | None = None  # the last ack's write, until done

    # --- the session (session.py owns the rules) ----------------------------------

    @property
    def state(self) -> State:
        return self.session.state

    @property
    def username(self) -> str:
        return self.session.username

    @property
    def display_name(self) -> str:
        return self.session.display_name

    @property
    def token(self) -> str | None:
        return self.session.token

    @property
    def features(self) -> frozenset[str]:
        """The extensions negotiated in `hello` (empty: pure version 1)."""
        return self.session.features

    @property
    def client(self) -> str:
        """The client's name from `hello` ("" if it gave none)."""
        return self.session.client

    def renamed(self, display_name: str) -> None:
        """The user changed their display name (here or on another connection)."""
        self.session.display_name = display_name

    def apply(self, outcome: Outcome) -> None:
        """A handler's outcome (hello or login done): the session moves."""
        self.session.apply(outcome)

    # --- transport callbacks ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream = cast(asyncio.Transport, transport)  # uvloop's is not a subclass, but is one
        self.transport = stream
        self.writer = FrameWriter(stream, self.loop, self.settings.outgoing_limit, self.overflow)
        peer = transport.get_extra_info("peername")
        self.peer_ip = str(peer[0]) if isinstance(peer, tuple) else "local"
        if not self.server.admit(self):
            self._send_error(
                None, RequestError("too many connections from your address", ErrorCode.RATE_LIMITED, retry_after=10)
            )
            self.close()

    def data_received(self, data: bytes) -> None:
        if self.state is State.CLOSED:
            return
        self.last_heard = self.clock()
        self.pinged = False
        if not self._inbox:
            self.frames_since = time.perf_counter()
        decoder = self.decoder
        decoder.receive_data(data)
        try:
            while (frame := decoder.next_frame()) is not None:
                self._on_frame(frame)
                if self.session.closed:
                    return
        except FrameError as exc:
            log.info("bad frame from %s: %s", self.peer_ip, exc.message)
            self._send_error(None, exc)
            self.close()

    @property
    def worker(self) -> asyncio.Task[None] | None:
        """The task handling this connection's requests while one runs: the
        server waits for it at shutdown, so no answer is cut off halfway."""
        return self._worker

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self.session.apply(Closed())
        self._wake_writer()
        self.server.forget(self)
        if self._worker is None:
            self._settle_cursor_write_alone()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._wake_writer()

    def _wake_writer(self) -> None:
        """Writing may go on (resumed, or the connection ended): wake a paced replay."""
        self._paused = False
        waiter, self._resume = self._resume, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- requests ------------------------------------------------------------------

    def _on_frame(self, frame: dict[str, Any]) -> None:
        try:
            request = parse_request(frame, self.settings.max_text)
        except RequestError as exc:
            self._send_error(request_id(frame), exc, frame.get("type"))
            return
        if type(request) is Pong:
            return
        inbox = self._inbox
        if inbox is None:
            inbox = self._inbox = deque()
        inbox.append(request)
        if self._worker is None:
            self._worker = self.loop.create_task(self._work())

    async def _work(self) -> None:
        inbox = self._inbox
        assert inbox is not None  # the worker starts with a request in it
        try:
            while inbox and self.state is not State.CLOSED:
                request = inbox.popleft()
                if type(request) is Ack:
                    await self._handle(self._merge_acks(request))
                elif type(request) is Send and self.session.authenticated:
                    run = [request]
                    while inbox and type(inbox[0]) is Send and len(run) < 64:
                        run.append(cast(Send, inbox.popleft()))  # checked just above
                    await self._handle_sends(run)
                else:
                    await self._handle(request)
        finally:
            self._worker = None
            if not inbox:
                self._inbox = None
            if self.state is State.CLOSED:
                self._settle_cursor_write_alone()

    async def _handle_sends(self, run: list[Send]) -> None:
        """Consecutive sends: all checked and queued first (one Redis round
        trip for the lot, stored in order), then answered in order."""
        begun: list[tuple[Send, Any]] = []
        context, since = self.context, self.frames_since
        for request in run:
            try:
                begun.append((request, await send_begin(context, self, request)))
            except Exception as exc:  # answered in its turn below
                begun.append((request, exc))
        for request, started in begun:
            if isinstance(started, Exception):
                await self._reply(request, error=started)
            else:
                try:
                    result = await send_finish(context, self, request, *started)
                except Exception as exc:
                    await self._reply(request, error=exc)
                else:
                    await self._reply(request, result)
        context.metrics.sent(len(run), since)

    async def cursor_written(self) -> None:
        """Wait for the last ack's cursor write (if any is still in flight)."""
        pending, self._cursor_write = self._cursor_write, None
        if pending is not None:
            self.context.store.push()  # a cursor move waits for company; not when we wait for it
            try:
                await pending
            except Exception as exc:  # the client will be replayed those messages again
                log.warning("cursor update for %s failed: %s", self.username, exc)

    def _settle_cursor_write_alone(self) -> None:
        """A closed connection answers nothing more, so no later reply will
        wait for its last ack's write: let that write finish on its own and
        log a failure, rather than leave an exception nobody retrieves."""
        pending, self._cursor_write = self._cursor_write, None
        if pending is None:
            return
        username = self.username

        def done(write: asyncio.Future[Any]) -> None:
            if not write.cancelled() and write.exception() is not None:
                log.warning("cursor update for %s failed: %s", username, write.exception())

        asyncio.ensure_future(pending).add_done_callback(done)

    def _merge_acks(self, first: Ack) -> AckBatch:
        """Consecutive acks become one cursor update: only the newest per
        conversation matters."""
        batch = AckBatch()
        batch.add(self, first)
        inbox = self._inbox
        while first.id is None and inbox and type(inbox[0]) is Ack and inbox[0].id is None:
            batch.add(self, cast(Ack, inbox.popleft()))  # checked just above
        return batch

    async def _handle(self, request: Request | AckBatch) -> None:
        kind = request.TYPE
        self.context.metrics.request(kind)
        try:
            self.session.check(kind)
            reply = await HANDLERS[kind](self.context, self, request)
            if reply.cursor_write is not None:
                self._cursor_write = reply.cursor_write  # queued: awaited before the next reply
                if request.id is not None:
                    await self.cursor_written()
        except Exception as exc:
            await self._reply(request, error=exc)
        else:
            await self._reply(request, reply)

    async def _reply(
        self, request: Request | AckBatch, reply: Reply | None = None, error: Exception | None = None
    ) -> None:
        """Answer one request: `ok` with the reply's fields, or the error the
        exception stands for; then run what the reply leaves for after it."""
        req_id = request.id
        if self._cursor_write is not None and request.TYPE != "ack":
            await self.cursor_written()
        if error is not None:
            if isinstance(error, SessionClosed):
                return  # the client left while this was being handled: no one to tell
            if isinstance(error, ProtocolError):
                self._send_error(req_id, error, request.TYPE)
                if error.code == ErrorCode.UNSUPPORTED_VERSION:
                    self.close()
            elif isinstance(error, StorageUnavailable):
                log.warning("storage unavailable for %s from %s: %s", request.TYPE, self.peer_ip, error)
                self._send_error(
                    req_id,
                    RequestError(
                        "storage is unavailable right now; try again in a few seconds",
                        ErrorCode.INTERNAL,
                        retry_after=self.settings.storage_retry_after,
                    ),
                    request.TYPE,
                )
            else:
                log.error("internal error handling %s from %s", request.TYPE, self.peer_ip, exc_info=error)
                self._send_error(req_id, RequestError("internal server error", ErrorCode.INTERNAL), request.TYPE)
            return
        if reply is None:
            return
        if req_id is not None and self.state is not State.CLOSED:
            frame = {"type": "ok", "re": req_id}
            if reply.fields:
                frame.update(reply.fields)
            self.send_bytes(encode_frame(frame))
        after = reply.after
        if after is not None:
            pending = after()
            if pending is not None:
                await pending

    # --- output ------------------------------------------------------------------

    def send_bytes(self, frame: bytes) -> None:
        if self.state is not State.CLOSED and self.writer is not None:
            self.writer.write(frame)

    def send(self, frame: dict[str, Any]) -> None:
        self.send_bytes(encode_frame(frame))

    def _send_error(self, req_id: int | None, exc: ProtocolError, kind: object = NO_REQUEST) -> None:
        """`kind`: the type of the request it answers, as the client wrote it (for the metrics)."""
        self.context.metrics.error(kind, exc.code)
        frame: dict[str, Any] = {"type": "error"}
        if req_id is not None:
            frame["re"] = req_id
        frame.update(exc.to_fields())
        self.send(frame)

    @property
    def buffered_bytes(self) -> int:
        """What this connection holds for its client: the writer's backlog
        plus live messages held back during a login replay. Bounded by
        `outgoing_limit` (then `bye overflow`)."""
        backlog = self.writer.backlog if self.writer is not None else 0
        return backlog + self._replay_bytes

    def deliver(self, conv: str, mid: str, frame: bytes) -> None:
        """A message event for this connection; held back while login
        replays, counted against the outgoing limit like the rest: a client
        that logs in and does not read cannot make the server hold an
        unbounded pile of live messages for it."""
        if self._replay_buffer is not None:
            if self.state is State.CLOSED:
                return
            self._replay_buffer.append((conv, mid, frame))
            self._replay_bytes += len(frame)
            if self.buffered_bytes > self.settings.outgoing_limit:
                self.overflow()
        else:
            self.delivered_upto[conv] = mid
            if self.covered_upto:
                self.covered_upto.pop(conv, None)
            self.send_bytes(frame)

    def send_event(self, frame: bytes) -> None:
        """An event outside any conversation's order (a `read`): held back
        during a login replay like messages, so it follows the login's
        reply, then sent; counted against the outgoing limit the same way."""
        if self._replay_buffer is not None:
            self.deliver("", "", frame)
        else:
            self.send_bytes(frame)

    def begin_replay(self) -> None:
        self._replay_buffer = []
        self._replay_bytes = 0

    async def send_paced(self, frames: Iterable[bytes]) -> None:
        """Write many frames (a login replay) at the pace the client reads
        them: the backlog stays under half the overflow limit, so a big
        offline backlog is delivered, not answered with `bye overflow`."""
        writer = self.writer
        assert writer is not None
        high = self.settings.outgoing_limit // 2
        for frame in frames:
            if self.state is State.CLOSED:
                return
            writer.write(frame)
            if writer.backlog > high:
                writer.flush()
                if not self._paused:
                    await asyncio.sleep(0)  # a turn for the rest of the node, as a wait would give
                    continue
                self._resume = resume = self.loop.create_future()
                try:
                    await asyncio.wait_for(resume, self.settings.idle_timeout)
                except TimeoutError:
                    self.overflow()
                    return

    async def end_replay(
        self, replay: list[bytes], replayed_upto: dict[str, str], sent_upto: dict[str, str] | None = None
    ) -> None:
        """Send the replay, then the live messages that arrived meanwhile,
        skipping any the replay already carried: nothing lost or doubled.
        `replayed_upto`: per conversation the newest entry the replay covers;
        `sent_upto`: the newest id its events name (where it names any)."""
        sent = dict(sent_upto or {})
        try:
            await self.send_paced(replay)
            while self._replay_buffer and self.state is not State.CLOSED:
                buffered, self._replay_buffer = self._replay_buffer, []
                self._replay_bytes = 0
                live = []
                for conv, mid, frame in buffered:
                    if not conv:
                        live.append(frame)
                        continue
                    upto = replayed_upto.get(conv)
                    if upto is None or mid_key(mid) > mid_key(upto):
                        live.append(frame)
                        replayed_upto[conv] = sent[conv] = mid
                await self.send_paced(live)
        finally:
            self._replay_buffer = None
            self._replay_bytes = 0
            hub = self.context.hub
            for conv, covered in replayed_upto.items():
                named = sent.get(conv, covered)
                self.delivered_upto[conv] = named
                if named != covered:
                    self.covered_upto[conv] = covered
                hub.covered(conv, covered)

    # --- closing -------------------------------------------------------------------

    def bye(self, reason: str) -> None:
        self.send({"type": "bye", "reason": reason})
        self.close()

    def overflow(self) -> None:
        """Drop a client that cannot keep up. Its `bye` goes after what is
        queued (so it is the last frame it reads); what is held back for a
        replay is dropped: the cursor has not moved, so it comes at the next
        login."""
        if self.state is State.CLOSED:
            return
        log.info("client %s (%s) cannot keep up; dropping it", self.username or "-", self.peer_ip)
        self.context.metrics.overflow()
        if self._replay_buffer is not None:
            self._replay_buffer.clear()
            self._replay_bytes = 0
        self.send({"type": "bye", "reason": "overflow"})
        self.close()

    def close(self) -> None:
        """Stop serving now; let the bytes already queued (a `bye`) drain,
        half-close, and keep discarding what the client still sends until it
        closes or LINGER_S passes, when the socket is aborted."""
        if self.state is State.CLOSED:
            return
        self.session.apply(Closed())
        self._wake_writer()
        self.server.forget(self)
        if self._worker is None:
            self._settle_cursor_write_alone()
        transport = self.transport
        if transport is None:
            return
        if self.writer is not None:
            self.writer.flush()
        try:
            if transport.can_write_eof():
                transport.write_eof()  # sent once the backlog has drained
            else:
                transport.close()
        except (OSError, RuntimeError):  # the peer is already gone
            transport.abort()
            return
        self.loop.call_later(LINGER_TICK_S, self._linger, self._unsent(), self.loop.time())

    def _unsent(self) -> int:
        """Bytes the client has not taken yet: the transport's buffer plus
        the kernel's send queue (where the OS tells)."""
        transport = self.transport
        if transport is None:
            return 0
        try:
            size = transport.get_write_buffer_size()
        except (AttributeError, RuntimeError):  # a TLS transport that is already closed
            return 0
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                size += int.from_bytes(fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4), "little")
        return size

    def _linger(self, unsent_before: int, still_since: float) -> None:
        """After close(): abort the socket once the client has taken nothing
        for LINGER_S (or has everything and has not closed for LINGER_S)."""
        if self._lost or self.transport is None:
            return
        now = self.loop.time()
        unsent = self._unsent()
        if unsent < unsent_before:
            still_since = now  # the client is reading: let it finish
        if now - still_since >= LINGER_S:
            self.transport.abort()
            return
        self.loop.call_later(LINGER_TICK_S, self._linger, unsent, still_since)
