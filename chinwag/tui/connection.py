"""The TUI's one door to the network.

`Link` wraps `protocol.reconnect.ReconnectingClient` (which reconnects,
resumes, re-sends by `cmid` and dedupes) and adds the two things a screen
needs around it: registration on a throwaway connection, and events handed
out in batches so a burst becomes one Textual message, not thousands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..protocol import DEFAULT_PORT
from ..protocol.client import ChatClient, Sent, Session
from ..protocol.messages import Event, Message, User
from ..protocol.reconnect import ConnectionStateEvent, ReconnectingClient

CLIENT_NAME = "chinwag-tui/0.1"
BATCH_MAX = 512

LinkEvent = Event | ConnectionStateEvent


@dataclass(frozen=True, slots=True)
class ServerAddress:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> ServerAddress:
        """`host`, `host:port` or `[v6]:port`; raises ValueError with a sentence."""
        text = text.strip()
        if not text:
            raise ValueError("enter the server as host:port")
        host, port_text = text, None
        if text.startswith("["):
            host, sep, rest = text[1:].partition("]")
            if not sep or (rest and not rest.startswith(":")):
                raise ValueError(f"'{text}' is not host:port")
            port_text = rest[1:] if rest else None
        elif text.count(":") == 1:
            host, port_text = text.split(":")
        if not host or any(ch.isspace() for ch in host):
            raise ValueError(f"'{text}' is not host:port")
        if port_text is None:
            return cls(host, DEFAULT_PORT)
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"'{port_text}' is not a port number (1-65535)")
        return cls(host, int(port_text))


class Link:
    def __init__(
        self,
        address: ServerAddress,
        *,
        tls: bool = False,
        ca: str | None = None,
        **client_options: Any,
    ) -> None:
        self.address = address
        self._tls, self._ca = tls, ca
        self.client = ReconnectingClient(
            address.host, address.port, tls=tls or None, ca=ca, client_name=CLIENT_NAME,
            **client_options,
        )

    # --- session -------------------------------------------------------------------

    async def register(self, username: str, password: str, display_name: str | None) -> User:
        """Create the account on a connection of its own (`register` does not log in)."""
        client = ChatClient(self.address.host, self.address.port, tls=self._tls or None,
                            ca=self._ca, client_name=CLIENT_NAME)
        try:
            await client.connect()
            return await client.register(username, password, display_name or None)
        finally:
            await client.close()

    async def login(self, username: str, password: str) -> Session:
        return await self.client.start(username=username, password=password)

    @property
    def session(self) -> Session | None:
        return self.client.session

    @property
    def max_text(self) -> int:
        return self.client.max_text

    async def close(self) -> None:
        await self.client.close()

    async def logout(self) -> None:
        await self.client.logout()

    # --- events ------------------------------------------------------------------------

    def _queued(self) -> int:
        return self.client.pending_events()

    async def next_batch(self, limit: int = BATCH_MAX) -> list[LinkEvent]:
        """Wait for one event, then take every event already queued (up to
        `limit`) without waiting. Raises ConnectionClosed once closed."""
        client = self.client
        batch: list[LinkEvent] = [await client.next_event()]
        while len(batch) < limit and self._queued():
            batch.append(await client.next_event())
        return batch

    # --- requests ----------------------------------------------------------------------

    def send(self, to: str, text: str) -> tuple[str, asyncio.Future[Sent]]:
        """Queue a message; its cmid and the future of the server's `ok`."""
        return self.client.send_nowait(to, text)

    async def history(self, conv: str, before: str | None = None,
                      limit: int | None = None) -> tuple[list[Message], bool]:
        return await self.client.history(conv, before, limit)

    async def who(self) -> list[User]:
        return await self.client.who()

    async def conversations(self) -> list[tuple[str, Message | None]]:
        return await self.client.conversations()

    async def users(self, prefix: str | None = None, limit: int | None = None) -> list[User]:
        return await self.client.users(prefix, limit)

    async def join(self, room: str) -> dict[str, Any]:
        return await self.client.join(room)

    async def leave(self, room: str) -> None:
        await self.client.leave(room)

    async def rooms(self) -> list[dict[str, Any]]:
        return await self.client.rooms()

    def typing(self, to: str) -> None:
        self.client.typing(to)


LinkFactory = Callable[..., Link]
