"""Passwords, tokens and login throttling.

Hashing runs in a small thread pool so argon2id's deliberate cost never stalls
the event loop; `argon2-cffi` releases the GIL while it works.
"""

from __future__ import annotations

import asyncio
import math
import secrets
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..protocol.errors import ErrorCode, RequestError
from .settings import Settings
from .store import Store

_TOKEN_BYTES = 32  # 256 bits


def _seconds(left: float) -> float:
    """A `retry_after` that is never early: the window's rest, rounded up to 0.1 s."""
    return max(0.1, math.ceil(left * 10) / 10)


def new_token() -> str:
    return secrets.token_urlsafe(_TOKEN_BYTES)


class PasswordService:
    def __init__(self, settings: Settings) -> None:
        self.hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        self._pool = ThreadPoolExecutor(max_workers=settings.hash_threads, thread_name_prefix="argon2")
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.hasher.hash, password)

    def _verify(self, stored: str, password: str) -> tuple[bool, bool]:
        try:
            self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        return True, self.hasher.check_needs_rehash(stored)

    async def verify(self, stored: str | None, password: str) -> tuple[bool, bool]:
        """(password matches, hash should be upgraded to current parameters)."""
        if stored is None:
            if self._dummy_hash is None:
                self._dummy_hash = await self.hash(secrets.token_hex(16))
            stored = self._dummy_hash
            await asyncio.get_running_loop().run_in_executor(self._pool, self._verify, stored, password)
            return False, False
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._verify, stored, password)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class LoginThrottle:
    """Counts failed logins per username and per client address in Redis, so
    the limit holds across nodes and restarts. A fixed window: a burst of
    guesses is stopped for at most `login_window` seconds, after which the
    real owner can log in again."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    async def check(self, username: str, address: str) -> None:
        s = self.settings
        (user_count, user_ttl), (addr_count, addr_ttl) = await self.store.login_failures(username, address)
        waits = []
        if user_count >= s.login_failures_per_user:
            waits.append(user_ttl)
        if addr_count >= s.login_failures_per_address:
            waits.append(addr_ttl)
        if waits:
            wait = _seconds(max(waits))
            raise RequestError(
                f"too many failed logins; try again in {wait:g} s", ErrorCode.THROTTLED, retry_after=wait
            )

    async def failed(self, username: str, address: str) -> None:
        await self.store.count_login_failure(username, address, self.settings.login_window)

    async def succeeded(self, username: str) -> None:
        await self.store.clear_login_failures(username)

    async def registration(self, address: str) -> None:
        s = self.settings
        count, ttl = await self.store.count_registration(address, s.registration_window)
        if count > s.registrations_per_address:
            wait = _seconds(ttl)
            raise RequestError(
                f"too many registrations from your address; try again in {wait:g} s",
                ErrorCode.THROTTLED, retry_after=wait,
            )
