"""Passwords, tokens, and the limits on login, resume, registration and room
creation.

Hashing runs in a small thread pool so argon2id's deliberate cost never stalls
the event loop; `argon2-cffi` releases the GIL while it works. The pool has a
bounded queue of its own, so a flood of logins is told "busy" at once instead
of making an honest login wait behind it.

The limits follow OWASP's advice against account lockout: failures for a
user from an address it has never logged in from only slow down (with a
growing delay) further attempts from such addresses, never from the
addresses the user does log in from, and never `resume` with a valid token.
Every check counts the attempt in the same Redis script, before the work it
guards, so concurrent attempts cannot slip past a limit together.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import heapq
import ipaddress
import itertools
import math
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar, TypeVarTuple

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..protocol.errors import ErrorCode, RequestError
from .settings import Settings
from .store import LoginStatus, ResumeState, Store

_TOKEN_BYTES = 32  # 256 bits
BUSY_RETRY_S = 1.0
T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def _seconds(left: float) -> float:
    """A `retry_after` that is never early: the rest, rounded up to 0.1 s."""
    return max(0.1, math.ceil(left * 10) / 10)


def _throttled(message: str, wait: float, code: ErrorCode = ErrorCode.THROTTLED) -> RequestError:
    wait = _seconds(wait)
    return RequestError(f"{message}; try again in {wait:g} s", code, retry_after=wait)


def new_token() -> str:
    return secrets.token_urlsafe(_TOKEN_BYTES)


@functools.lru_cache(maxsize=4096)  # a resume asks twice; connections from one address ask again
def throttle_address(address: str) -> str:
    """The unit an address is limited by: an IPv4 address (also when mapped
    into IPv6), or an IPv6 /64, which one subscriber usually holds whole."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return f"{ipaddress.IPv6Network((ip, 64), strict=False).network_address}/64"
    return str(ip)


@functools.lru_cache(maxsize=4096)
def address_tag(address: str) -> str:
    """How a user's known addresses are stored: hashed, so Redis does not
    keep a month of where each user logs in from in the clear."""
    return hashlib.sha256(address.encode()).hexdigest()[:24]


class ServerBusy(Exception):
    """The verification queue is full."""


class PasswordService:
    """Hashing and verifying in a pool of `hash_threads`, behind a queue of
    at most `verify_queue` jobs (running or waiting; `verify_queue_reserved`
    more for priority jobs, which also jump the queue)."""

    def __init__(self, settings: Settings) -> None:
        self.hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        self._pool = ThreadPoolExecutor(max_workers=settings.hash_threads, thread_name_prefix="argon2")
        self._slots = settings.hash_threads
        self.queue_limit = settings.verify_queue
        self.queue_reserved = settings.verify_queue_reserved
        self._running = 0
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._dummy_hash: str | None = None
        self.pending = 0  # jobs running or waiting
        self.max_pending = 0  # the most there ever were (for tests and operators)
        self.verifications = 0  # verifications run

    # --- the queue ---------------------------------------------------------------

    def _admit(self, priority: bool) -> None:
        limit = self.queue_limit + (self.queue_reserved if priority else 0)
        if self.pending >= limit:
            raise ServerBusy()
        self.pending += 1
        self.max_pending = max(self.max_pending, self.pending)

    async def _slot(self, priority: bool) -> None:
        if self._running < self._slots and not self._waiting:
            self._running += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (0 if priority else 1, next(self._order), waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # the slot was handed over just as we were cancelled
            raise

    def _release(self) -> None:
        while self._waiting:
            _, _, waiter = heapq.heappop(self._waiting)
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight to the next in line
                return
        self._running -= 1

    async def _run(self, priority: bool, func: Callable[[*Ts], T], *args: *Ts) -> T:
        """Run `func` in the pool once a slot is free; `ServerBusy` at once if
        the queue is full."""
        self._admit(priority)
        try:
            await self._slot(priority)
            try:
                return await asyncio.get_running_loop().run_in_executor(self._pool, func, *args)
            finally:
                self._release()
        finally:
            self.pending -= 1

    # --- hashing -----------------------------------------------------------------

    async def hash(self, password: str, *, priority: bool = False) -> str:
        return await self._run(priority, self.hasher.hash, password)

    def _verify(self, stored: str | None, password: str) -> tuple[bool, bool]:
        if stored is None:  # an unknown user costs what a known one does
            if self._dummy_hash is None:
                self._dummy_hash = self.hasher.hash(secrets.token_hex(16))
            stored = self._dummy_hash
            with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
                self.hasher.verify(stored, password)
            return False, False
        try:
            self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        return True, self.hasher.check_needs_rehash(stored)

    async def verify(self, stored: str | None, password: str, *, priority: bool = False) -> tuple[bool, bool]:
        """(password matches, hash should be upgraded to current parameters);
        `ServerBusy` if the queue is full."""
        result = await self._run(priority, self._verify, stored, password)
        self.verifications += 1
        return result

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass(slots=True)
class LoginAttempt:
    """What a login reserved before its password is verified."""

    name: str
    address: str
    tag: str
    known: bool  # the user logged in or resumed from this address lately


class LoginThrottle:
    """The limits of login, resume, registration and room creation, kept in
    Redis so they hold across nodes and restarts.

    login, in this order, each step counting the attempt up front:
    1. the address: `logins_per_address` attempts per `attempt_window`, and
       `login_failures_per_address` failures per `login_window` (a hard
       limit, for a guesser trying many names from one place);
    2. the user: past `login_failures_per_user_address` failures from this
       address, each further attempt from it waits a doubling delay; past
       `login_failures_per_user` failures from addresses the user is not
       known at, so does every such address. An address is known for
       `known_address_ttl` after a login or resume from it. At most
       `logins_per_user` successful logins per `attempt_window`;
    3. the verification queue (`PasswordService`), known addresses first.
    A success gives back what it reserved and makes the address known."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    # --- login -------------------------------------------------------------------

    async def begin_login(self, name: str, address: str) -> LoginAttempt:
        s = self.settings
        addr = throttle_address(address)
        which, wait = await self.store.login_take_address(
            addr, s.logins_per_address, s.attempt_window, s.login_failures_per_address, s.login_window
        )
        if which == 1:
            raise _throttled("too many logins from your address", wait)
        if which:
            raise _throttled("too many failed logins from your address", wait)
        attempt = LoginAttempt(name, addr, address_tag(addr), False)
        try:
            status, wait, attempt.known = await self.store.login_take_user(
                name,
                addr,
                attempt.tag,
                [
                    s.login_failures_per_user,
                    s.login_failures_per_user_address,
                    int(s.login_delay_base * 1000),
                    int(s.login_delay_max * 1000),
                    s.login_window,
                    s.known_address_ttl * 1000,
                    s.logins_per_user,
                    s.attempt_window,
                ],
            )
        except BaseException:
            await self.store.login_refund_address(addr, attempt=True)
            raise
        if status is not LoginStatus.GO:
            await self.store.login_refund_address(addr, attempt=False)
            if status is LoginStatus.DELAYED:
                raise _throttled("too many failed logins", wait)
            raise _throttled("too many logins for this user", wait)
        return attempt

    async def _settle(self, attempt: LoginAttempt, outcome: str) -> None:
        s = self.settings
        await self.store.login_settle_user(
            attempt.name,
            attempt.address,
            attempt.tag,
            outcome,
            attempt.known,
            s.known_address_ttl,
            s.known_addresses_per_user,
        )

    async def login_failed(self, attempt: LoginAttempt) -> None:
        await self._settle(attempt, "fail")

    async def login_succeeded(self, attempt: LoginAttempt) -> None:
        await self.store.login_refund_address(attempt.address, attempt=False)
        await self._settle(attempt, "ok")

    async def login_busy(self, attempt: LoginAttempt) -> RequestError:
        """Give back what the attempt reserved; the error to answer with."""
        await self.store.login_refund_address(attempt.address, attempt=True)
        await self._settle(attempt, "cancel")
        return _throttled("the server is busy checking passwords", BUSY_RETRY_S)

    # --- resume ------------------------------------------------------------------

    async def resume_token(self, address: str, token: str) -> str | None:
        """Count a resume against the address's rate (throttled past it)
        and, within it, the token's user (None: unknown or expired)."""
        s = self.settings
        wait, name = await self.store.resume_begin(
            throttle_address(address), s.resumes_per_address, s.attempt_window, token, s.token_ttl
        )
        if wait:
            raise _throttled("too many resumes from your address", wait)
        return name

    async def resume_session(self, name: str, address: str, token: str) -> ResumeState:
        """Count a resume with a valid token against the user's rate
        (throttled past it; the address becomes known), and then the
        session's status and the user's login state (Store.resume_state)."""
        s = self.settings
        found = await self.store.resume_state(
            name,
            token,
            address_tag(throttle_address(address)),
            s.resumes_per_user,
            s.attempt_window,
            s.known_address_ttl,
            s.known_addresses_per_user,
        )
        if found.wait:
            raise _throttled("too many resumes for this user", found.wait)
        return found

    # --- registration and rooms ----------------------------------------------------

    async def registration(self, address: str) -> None:
        s = self.settings
        wait = await self.store.take_registration(
            throttle_address(address), s.registrations_per_address, s.registration_window
        )
        if wait:
            raise _throttled("too many registrations from your address", wait)

    async def room_creation(self, name: str) -> None:
        s = self.settings
        wait = await self.store.take_room_creation(name, s.rooms_per_user, s.rooms_window)
        if wait:
            raise _throttled("you are creating rooms too fast", wait, ErrorCode.RATE_LIMITED)
