"""The headless asyncio chinwag client used by the TUI, the tests, the
benchmarks and any bot.

Requests are awaitables that return the `ok` fields or raise `ServerError`
with the server's code; events come from `next_event()` / `async for`.
Messages are acknowledged automatically once the caller has seen them (see
inbox.py for when, and how acks are coalesced), and due acks go out on close.

`Requests` holds the typed requests both clients make, written once over
`request()`; `ChatClient` is one connection, `ReconnectingClient`
(reconnect.py) a session that outlives connections.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl as ssl_module
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from . import DEFAULT_PORT, PROTOCOL_VERSION, limits
from .address import Address
from .errors import ConnectionClosed, FrameError, ServerError
from .frames import DEFAULT_MAX_FRAME, FrameDecoder, encode_frame
from .inbox import AckTracker, Inbox
from .messages import Event, Message, NotifySettings, RoomInfo, SessionInfo, User, parse_event
from .writer import FrameWriter

# The extensions this client understands (PROTOCOL-EXTENSIONS.md); a caller
# asks for the ones it wants in `ChatClient(features=...)`.
KNOWN_FEATURES = (
    limits.FEATURE_MESSAGES,
    limits.FEATURE_READ,
    limits.FEATURE_SEARCH,
    limits.FEATURE_ROOMS,
    limits.FEATURE_PEOPLE,
    limits.FEATURE_NOTIFY,
)

CLIENT_NAME = "chinwag-py/0.1"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Session:
    """What `login` and `resume` return."""

    user: User
    token: str
    unread: dict[str, int] = field(default_factory=dict)
    read: dict[str, str] = field(default_factory=dict)  # `read`: conv -> the read marker's mid


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of `search`: messages newest first; `next` for the page after, or None."""

    results: list[Message]
    next: str | None


@dataclass(frozen=True, slots=True)
class Sent:
    mid: str
    ts: int
    conv: Address

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> Sent:
        return cls(reply["mid"], reply["ts"], Address.of(reply["conv"]))


def make_ssl_context(tls: bool | ssl_module.SSLContext | None, ca: str | None) -> ssl_module.SSLContext | None:
    """The client-side TLS context: None for plain TCP, the system trust store
    (plus `ca` if given) for `tls=True`, or a context the caller built."""
    if isinstance(tls, ssl_module.SSLContext):
        return tls
    if not tls and ca is None:
        return None
    context = ssl_module.create_default_context()
    if ca is not None:
        context.load_verify_locations(cafile=ca)
    return context


class Requests:
    """The requests of a logged-in session, typed, over one `request()`."""

    session: Session | None = None  # what login or resume returned

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        raise NotImplementedError

    async def who(self) -> list[User]:
        return [User.from_wire(u) for u in (await self.request("who"))["users"]]

    async def users(self, prefix: str | None = None, limit: int | None = None) -> list[User]:
        reply = await self.request("users", prefix=prefix, limit=limit)
        return [User.from_wire(u) for u in reply["users"]]

    async def history(
        self, conv: str, before: str | None = None, limit: int | None = None
    ) -> tuple[list[Message], bool]:
        reply = await self.request("history", conv=conv, before=before, limit=limit)
        return [Message.from_wire(m) for m in reply["messages"]], bool(reply.get("more"))

    async def catch_up(
        self,
        conv: str,
        unread: int,
        before: str | None,
        held: int = 0,
        *,
        me: str | None = None,
        most: int | None = None,
    ) -> list[Message]:
        """The offline messages of `conv` the login replay did not carry: it
        carries at most the newest REPLAY_MAX while `unread` counts them all.
        Pages `history` back from `before` (the oldest message held: the
        first one replayed; None: from the newest) until the messages from
        others, `held` of them held already, reach `unread`, or the server
        has no older ones, or `most` messages came (all of them counted: the
        caller's own do not count toward `unread`, so a history of mostly
        those would otherwise be read to its start). Oldest first.

        Counted as `unread` counts: not `me`'s own messages (default: the
        logged-in user) and not tombstones (`messages`); both still come
        back, as history has them. Each page needs the previous one's oldest
        mid, so the pages go one round trip after another; a page is decoded
        while the server reads the next."""
        if me is None:
            me = self.logged_in_as
        pages: list[list[Message]] = []
        counted = held
        fetched = 0
        ask: asyncio.Future[dict[str, Any]] | None = None
        if counted < unread:
            ask = self._sent_now("history", conv=conv, before=before, limit=limits.HISTORY_MAX)
        try:
            while ask is not None:
                reply = await ask
                ask = None
                raw = reply["messages"]
                if not raw:
                    break
                counted += sum(1 for m in raw if m.get("from") != me and m.get("deleted") is not True)
                fetched += len(raw)
                oldest = raw[0].get("mid")
                enough = most is not None and fetched >= most
                if counted < unread and not enough and reply.get("more") and type(oldest) is str:
                    ask = self._sent_now("history", conv=conv, before=oldest, limit=limits.HISTORY_MAX)
                pages.append([Message.from_wire(m) for m in raw])
        finally:
            if ask is not None and not ask.done():  # a page this caller will not wait for (it failed or left)
                ask.cancel()
        pages.reverse()
        return [m for page in pages for m in page]

    def _sent_now(self, kind: str, **fields: Any) -> asyncio.Future[dict[str, Any]]:
        """A request started now, its reply to come: here as a task (which
        sends it at the loop's next turn); ChatClient writes it at once."""
        return asyncio.ensure_future(self.request(kind, **fields))

    @property
    def logged_in_as(self) -> str | None:
        """The username of the session, if any."""
        return self.session.user.username if self.session is not None else None

    async def join(self, room: str, *, private: bool | None = None, topic: str | None = None) -> dict[str, Any]:
        """The room object; `private` and `topic` (`rooms`) count only if this join creates the room."""
        return dict((await self.request("join", room=room, private=private, topic=topic))["room"])

    async def leave(self, room: str) -> None:
        await self.request("leave", room=room)

    async def rooms(self) -> list[dict[str, Any]]:
        return list((await self.request("rooms"))["rooms"])

    async def ping(self) -> None:
        await self.request("ping")

    # --- `messages`, `read`, `search` (PROTOCOL-EXTENSIONS.md) ---------------------

    async def edit(self, conv: str, mid: str, text: str) -> int:
        """Replace the text of your message; returns the edit's timestamp (ms)."""
        return int((await self.request("edit", conv=conv, mid=mid, text=text))["edited"])

    async def delete(self, conv: str, mid: str) -> None:
        """Erase a message (yours, or as a room's moderator); its tombstone stays."""
        await self.request("delete", conv=conv, mid=mid)

    async def react(self, conv: str, mid: str, emoji: str, on: bool = True) -> None:
        await self.request("react", conv=conv, mid=mid, emoji=emoji, on=on)

    async def mark_read(self, conv: str, upto: str) -> None:
        """Move your read marker in `conv` to `upto` and wait for the server's ok."""
        await self.request("read", conv=conv, upto=upto)

    async def search(
        self,
        query: str,
        *,
        conv: str | None = None,
        sender: str | None = None,
        before: int | None = None,
        after: int | None = None,
        limit: int | None = None,
        page: str | None = None,
    ) -> SearchPage:
        fields: dict[str, Any] = {"query": query, "conv": conv, "before": before, "after": after}
        fields.update(limit=limit, page=page)
        if sender is not None:
            fields["from"] = sender
        reply = await self.request("search", **fields)
        nxt = reply.get("next")
        return SearchPage([Message.from_wire(m) for m in reply.get("results") or ()], nxt if type(nxt) is str else None)

    # --- `rooms` ----------------------------------------------------------------------

    async def room_info(self, room: str) -> RoomInfo:
        return RoomInfo.from_reply(await self.request("room_info", room=room))

    async def set_topic(self, room: str, topic: str) -> None:
        await self.request("topic", room=room, topic=topic)

    async def invite(self, room: str, user: str) -> None:
        await self.request("invite", room=room, user=user)

    async def kick(self, room: str, user: str, reason: str | None = None) -> None:
        await self.request("kick", room=room, user=user, reason=reason)

    async def ban(self, room: str, user: str, on: bool = True, reason: str | None = None) -> None:
        await self.request("ban", room=room, user=user, on=on, reason=reason)

    async def set_role(self, room: str, user: str, role: str) -> None:
        await self.request("role", room=room, user=user, role=role)

    # --- `people` ---------------------------------------------------------------------

    async def set_status(self, away: bool, text: str | None = None) -> None:
        await self.request("status", away=away, text=text)

    async def block(self, user: str, on: bool = True) -> None:
        await self.request("block", user=user, on=on)

    async def blocks(self) -> list[str]:
        return [u for u in (await self.request("blocks")).get("users") or () if type(u) is str]

    async def set_display_name(self, display_name: str) -> User:
        return User.from_wire((await self.request("profile", display_name=display_name))["user"])

    async def change_password(self, old: str, new: str, revoke_others: bool = True) -> None:
        await self.request("password", old=old, new=new, revoke_others=revoke_others)

    async def sessions(self) -> list[SessionInfo]:
        return [SessionInfo.from_wire(x) for x in (await self.request("sessions")).get("sessions") or ()]

    async def revoke(self, session: str) -> None:
        """End one of your sessions (an id from `sessions`): its token stops working."""
        await self.request("revoke", session=session)

    # --- `notify` (chinwag's, docs/protocol.md) -------------------------------------

    async def notify_settings(self) -> NotifySettings:
        return NotifySettings.from_wire(await self.request("notify_settings"))

    async def set_notify(self, conv: str, level: str | None) -> NotifySettings:
        """`level`: all, mentions or none; None goes back to the default."""
        return NotifySettings.from_wire(await self.request("notify", conv=conv, level=level))

    async def set_highlights(self, words: Sequence[str]) -> NotifySettings:
        return NotifySettings.from_wire(await self.request("highlights", words=list(words)))

    async def conversations(self) -> list[tuple[Address, Message | None]]:
        """(address, newest message) for each of the user's conversations,
        newest first. A chinwag extension: other servers answer unknown_type."""
        reply = await self.request("conversations")
        return [
            (Address.of(c["conv"]), Message.from_wire({**c["last"], "type": "message"}) if c.get("last") else None)
            for c in reply["conversations"]
        ]


class _Wire(asyncio.Protocol):
    """Transport callbacks, turned into calls on the client."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is one without subclassing asyncio's).
        self.client._connection_made(cast(asyncio.Transport, transport))

    def data_received(self, data: bytes) -> None:
        self.client._data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._connection_lost(exc)


class ChatClient(Requests):
    """One connection: hello, a session, requests by id, events in order."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        tls: bool | ssl_module.SSLContext | None = None,
        ca: str | None = None,
        client_name: str = CLIENT_NAME,
        auto_ack: bool = True,
        max_frame: int = DEFAULT_MAX_FRAME,
        connect_timeout: float = 10.0,
        features: Sequence[str] = (),
    ) -> None:
        self.host = host
        self.wanted_features = tuple(features)
        self.port = port
        self.client_name = client_name
        self.auto_ack = auto_ack
        self.connect_timeout = connect_timeout
        self._ssl = make_ssl_context(tls, ca)
        self._decoder = FrameDecoder(max_frame)
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._acks = AckTracker(self._send_ack)
        self._inbox: Inbox[Event] = Inbox(self._acks if auto_ack else None)
        self._transport: asyncio.Transport | None = None
        self._writer: FrameWriter | None = None
        self._closed: ConnectionClosed | None = None
        self.server_info: dict[str, Any] = {}
        self.session: Session | None = None

    # --- connection --------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._transport is not None and self._closed is None

    @property
    def max_text(self) -> int:
        return int(self.server_info.get("max_text", limits.DEFAULT_MAX_TEXT))

    @property
    def registration(self) -> str:
        """Who may register on this server, from its `hello` reply: "open",
        "invite" (`register` needs an invitation code) or "closed"; "open" for
        a server that does not say."""
        value = self.server_info.get("registration")
        return value if value in ("open", "invite", "closed") else "open"

    @property
    def features(self) -> frozenset[str]:
        """The extensions in effect on this connection (the server's answer to `hello`)."""
        raw = self.server_info.get("features")
        return frozenset(f for f in raw if type(f) is str) if isinstance(raw, list) else frozenset()

    async def connect(self) -> dict[str, Any]:
        """Open the connection and say hello; returns the server's hello reply."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Wire(self),
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl else None,
                ),
                self.connect_timeout,
            )
        except (TimeoutError, OSError) as exc:
            raise ConnectionClosed(f"cannot reach {self.host}:{self.port} ({exc or 'timed out'})") from exc
        hello: dict[str, Any] = {"version": PROTOCOL_VERSION, "client": self.client_name}
        if self.wanted_features:  # else the very hello of version 1
            hello["features"] = list(self.wanted_features)
        self.server_info = await self.request("hello", **hello)
        return self.server_info

    async def close(self) -> None:
        """Send any due acks and close the connection."""
        if self._transport is None:
            return
        if self._closed is None:
            self._inbox.note_seen()
            self._acks.flush()
            if self._writer is not None:
                self._writer.flush()
        self._transport.close()
        self._fail(ConnectionClosed("closed by client"))

    async def __aenter__(self) -> ChatClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _connection_made(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._writer = FrameWriter(transport, asyncio.get_running_loop())

    def _data_received(self, data: bytes) -> None:
        decoder = self._decoder
        decoder.receive_data(data)
        try:
            while (frame := decoder.next_frame()) is not None:
                self._dispatch(frame)
        except FrameError as exc:
            self._fail(ConnectionClosed(f"server sent a bad frame: {exc.message}"))
            if self._transport is not None:
                self._transport.close()

    def _connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionClosed(f"connection lost ({exc})" if exc else "connection closed by server"))

    def _fail(self, error: ConnectionClosed) -> None:
        if self._closed is not None:
            return
        self._closed = error
        self._acks.cancel()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()
        self._inbox.close(error)

    def _dispatch(self, frame: dict[str, Any]) -> None:
        re_id = frame.get("re")
        if re_id is not None:
            future = self._pending.pop(re_id, None)
            if future is not None and not future.done():
                if frame.get("type") == "error":
                    future.set_exception(
                        ServerError(
                            str(frame.get("message", "")),
                            str(frame.get("code", "internal")),
                            retry_after=frame.get("retry_after"),
                        )
                    )
                else:
                    future.set_result(frame)
            return
        kind = frame.get("type")
        if kind == "ping":
            self._send({"type": "pong"})
            return
        try:
            event = parse_event(frame)
        except Exception as exc:  # whatever a server sends, the session goes on
            log.warning("ignored a malformed %r event from %s:%s: %s", kind, self.host, self.port, exc)
            return
        if event is not None:
            self._inbox.put(event)

    def _send(self, frame: dict[str, Any]) -> None:
        if self._closed is not None:
            raise self._closed
        assert self._writer is not None, "connect() first"
        self._writer.write(encode_frame(frame))

    # --- requests ------------------------------------------------------------

    def request_nowait(self, kind: str, **fields: Any) -> asyncio.Future[dict[str, Any]]:
        """Send a request and return the future of its reply (for pipelining)."""
        if self._closed is not None:
            raise self._closed
        req_id = next(self._ids)
        frame = {"type": kind, "id": req_id}
        frame.update({k: v for k, v in fields.items() if v is not None})
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = future
        self._send(frame)
        return future

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Send one request; return the `ok` frame or raise `ServerError`."""
        return await self.request_nowait(kind, **fields)

    def _sent_now(self, kind: str, **fields: Any) -> asyncio.Future[dict[str, Any]]:
        """The request on the wire before this returns (not at the end of the
        loop's turn): the server works on it while the caller decodes."""
        future = self.request_nowait(kind, **fields)
        if self._writer is not None:
            self._writer.flush()
        return future

    async def register(
        self, username: str, password: str, display_name: str | None = None, invite: str | None = None
    ) -> User:
        """`invite`: the registration invitation code, on a server that needs one."""
        fields = {"username": username, "password": password, "display_name": display_name, "invite": invite}
        return User.from_wire((await self.request("register", **fields))["user"])

    async def login(self, username: str, password: str) -> Session:
        return self._session(await self.request("login", username=username, password=password))

    async def resume(self, token: str) -> Session:
        return self._session(await self.request("resume", token=token))

    def _session(self, reply: dict[str, Any]) -> Session:
        unread = reply.get("unread") or {}
        read = reply.get("read")
        self.session = Session(
            User.from_wire(reply["user"]),
            str(reply["token"]),
            dict(unread),
            {c: m for c, m in read.items() if type(c) is str and type(m) is str} if isinstance(read, dict) else {},
        )
        return self.session

    async def logout(self) -> None:
        await self.request("logout")

    def send_nowait(
        self, to: str, text: str, cmid: str | None = None, reply_to: str | None = None
    ) -> asyncio.Future[dict[str, Any]]:
        """Send a message without waiting; the future of the server's reply
        (`Sent.from_reply` reads it). Sends pipelined this way keep their order."""
        return self.request_nowait("send", to=to, text=text, cmid=cmid, reply_to=reply_to)

    async def send(self, to: str, text: str, cmid: str | None = None, reply_to: str | None = None) -> Sent:
        return Sent.from_reply(await self.send_nowait(to, text, cmid, reply_to))

    def read(self, conv: str, upto: str) -> None:
        """`read`: move your read marker in `conv` to `upto` (a notification;
        `mark_read` waits for the answer)."""
        self._send({"type": "read", "conv": conv, "upto": upto})

    def typing(self, to: str) -> None:
        self._send({"type": "typing", "to": to})

    def ack(self, conv: str, mid: str) -> None:
        """Acknowledge everything in `conv` up to `mid`, now."""
        self._send_ack(conv, mid)

    def flush_acks(self) -> None:
        """Send the acks that are due now rather than after ACK_DELAY."""
        self._inbox.note_seen()
        self._acks.flush()

    # --- events and acks ---------------------------------------------------------

    def _send_ack(self, conv: str, mid: str) -> None:
        if self._closed is None:
            self._send({"type": "ack", "conv": conv, "upto": mid})

    async def next_event(self, timeout: float | None = None) -> Event:
        """The next event; raises `ConnectionClosed` once the connection is gone
        and every event that came before has been returned."""
        return await self._inbox.get(timeout)

    async def next_batch(self, limit: int) -> list[Event]:
        """The next event and every one queued behind it, up to `limit`."""
        return await self._inbox.get_batch(limit)

    def pending_events(self) -> int:
        return len(self._inbox)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            try:
                event = await self.next_event()
            except ConnectionClosed:
                return
            yield event
