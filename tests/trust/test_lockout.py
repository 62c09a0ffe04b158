"""Nobody can lock a user out, or starve others, through login, register or
resume: failures from strange addresses never block the user's own address
or token; limits are checked and counted in one step, before the hash; the
hashing queue is bounded, known addresses first; login and resume have
rates; `user_exists` is throttled like registration.

Many client addresses come from binding sockets to 127.0.0.2 and up (all of
127.0.0.0/8 is loopback)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from chinwag.protocol.client import ChatClient
from chinwag.server.app import ChatServer

from ..support.raw import TIMEOUT, RawClient
from ..support.settings import PASSWORD
from ..support.waits import eventually


async def open_from(server: ChatServer, local: str) -> RawClient:
    """A raw connection whose source address is `local`, said hello."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((local, 0))
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port)), TIMEOUT)
    except BaseException:
        sock.close()
        raise
    conn = await RawClient.wrap(sock)
    await conn.hello()
    return conn


def address(i: int) -> str:
    """127.0.0.2, 127.0.0.3, ... (i from 0)."""
    return f"127.0.{(i + 2) // 256}.{(i + 2) % 256}"


async def logins(conn: RawClient, attempts: list[tuple[str, str]], timeout: float = 20.0) -> list[dict[str, Any]]:
    """Send every login at once (the connection answers them in order); the replies."""
    ids = []
    for name, password in attempts:
        req_id = conn.next_id()
        ids.append(req_id)
        await conn.send({"type": "login", "id": req_id, "username": name, "password": password})
    return [await conn.reply(i, timeout) for i in ids]


def codes(replies: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for reply in replies:
        key = reply.get("code", reply["type"])
        out[key] = out.get(key, 0) + 1
    return out


async def test_guesses_from_a_hundred_addresses_do_not_lock_the_owner_out(make_server, connect) -> None:
    """1,000 wrong passwords for bob from 100 addresses; bob, at the address
    he logs in from, gets in at once, and his token still resumes anywhere."""
    server = await make_server(login_failures_per_user=10, login_delay_base=30, login_window=300)
    bob = await connect(to=server)
    await bob.register("bob", PASSWORD)
    token = (await bob.login("bob", PASSWORD)).token  # from 127.0.0.1: now a known address
    await bob.close()
    before = server.passwords.verifications

    guessers = await asyncio.gather(*(open_from(server, address(i)) for i in range(100)))
    results = await asyncio.gather(
        *(logins(g, [("bob", f"guess {i}-{j}") for j in range(10)]) for i, g in enumerate(guessers))
    )
    tally = codes([r for replies in results for r in replies])
    assert sum(tally.values()) == 1000
    assert set(tally) == {"bad_credentials", "throttled"}, tally
    # the failures from unknown addresses were reserved before each hash:
    # exactly the free ones were verified, however concurrent the guesses
    assert tally["bad_credentials"] == 10 and server.passwords.verifications - before == 10, tally
    # a new guess from yet another address waits a growing delay
    late = await open_from(server, address(150))
    [reply] = await logins(late, [("bob", "one more")])
    assert reply["code"] == "throttled" and 0 < reply["retry_after"] <= server.settings.login_delay_max

    owner = await connect(to=server)  # 127.0.0.1, where bob logged in before
    session = await asyncio.wait_for(owner.login("bob", PASSWORD), 5)
    assert session.user.username == "bob"
    device = await open_from(server, address(200))  # a device holding his token, anywhere
    reply = await device.request("resume", token=token)
    assert reply["type"] == "ok" and reply["user"]["username"] == "bob", reply
    for g in guessers:
        g.close()


async def test_a_guesser_from_one_address_waits_longer_and_longer(make_server) -> None:
    server = await make_server(
        login_failures_per_user_address=3, login_failures_per_user=100, login_delay_base=0.5, login_delay_max=60
    )
    setup = await open_from(server, "127.0.0.1")
    await setup.register("bob")
    await setup.login("bob")  # 127.0.0.1 is bob's: the pair limit still applies to it
    guesser = await open_from(server, "127.0.0.1")
    assert codes(await logins(guesser, [("bob", f"guess {i}") for i in range(3)])) == {"bad_credentials": 3}
    [first] = await logins(guesser, [("bob", PASSWORD)])  # even the right password waits
    assert first["code"] == "throttled" and 0 < first["retry_after"] <= 0.5, first
    await asyncio.sleep(first["retry_after"] + 0.05)
    [reply] = await logins(guesser, [("bob", "guess 3")])
    assert reply["code"] == "bad_credentials", reply
    [second] = await logins(guesser, [("bob", "guess 4")])
    assert second["code"] == "throttled" and 0.5 < second["retry_after"] <= 1.0, second
    # bob at another address is not slowed by the guesses at this one
    elsewhere = await open_from(server, address(0))
    [reply] = await logins(elsewhere, [("bob", PASSWORD)])
    assert reply["type"] == "ok", reply


async def test_a_burst_from_one_address_gets_no_more_verifications_than_its_limit(make_server) -> None:
    """200 wrong logins at once from one address, limit 20: the check and the
    count are one step before the hash, so 20 are verified, not more."""
    server = await make_server(login_failures_per_address=20, verify_queue=1000)
    conns = await asyncio.gather(*(open_from(server, "127.0.0.1") for _ in range(200)))
    before = server.passwords.verifications
    results = await asyncio.gather(*(logins(c, [(f"ghost{i}", "wrong password")]) for i, c in enumerate(conns)))
    tally = codes([r for replies in results for r in replies])
    assert tally == {"bad_credentials": 20, "throttled": 180}, tally
    assert server.passwords.verifications - before == 20
    for c in conns:
        c.close()


async def test_a_login_flood_leaves_the_queue_bounded_and_lets_a_known_user_in(make_server, connect) -> None:
    """A flood of wrong logins from many addresses fills the verification
    queue; beyond it they are told `throttled` at once (server busy), and
    bob, from his usual address, jumps the queue and gets in."""
    server = await make_server(
        verify_queue=4,
        verify_queue_reserved=2,
        hash_threads=1,
        logins_per_address=10**6,
        login_failures_per_address=10**6,
    )
    bob = await connect(to=server)
    await bob.register("bob", PASSWORD)
    await bob.login("bob", PASSWORD)
    await bob.close()

    done = asyncio.Event()
    replies: list[dict[str, Any]] = []

    async def flood(conn: RawClient, i: int) -> None:
        n = 0
        while not done.is_set():  # one login at a time per connection, until bob is in
            replies.extend(await logins(conn, [(f"ghost{i}-{n}", "wrong password")]))
            n += 1

    flooders = await asyncio.gather(*(open_from(server, address(i)) for i in range(50)))
    floods = [asyncio.ensure_future(flood(f, i)) for i, f in enumerate(flooders)]
    assert await eventually(lambda: server.passwords.pending >= 4)
    loop = asyncio.get_running_loop()
    owner = ChatClient("127.0.0.1", server.port)
    await owner.connect()
    started = loop.time()
    session = await asyncio.wait_for(owner.login("bob", PASSWORD), 10)
    took = loop.time() - started
    assert session.user.username == "bob"
    done.set()
    await asyncio.gather(*floods)
    tally = codes(replies)
    assert tally.get("throttled", 0) > 0 and tally.get("bad_credentials", 0) > 0, tally
    assert server.passwords.max_pending <= 4 + 2
    print(f"honest login during the flood: {took * 1000:.0f} ms; flood replies {tally}")
    await owner.close()
    for f in flooders:
        f.close()


async def test_resume_and_login_have_rates_per_user_and_per_address(make_server, connect) -> None:
    server = await make_server(
        resumes_per_user=3, resumes_per_address=5, logins_per_user=2, logins_per_address=4, attempt_window=60
    )
    setup = await connect(to=server)
    await setup.register("alice", PASSWORD)
    await setup.register("carol", PASSWORD)
    token = (await setup.login("alice", PASSWORD)).token  # alice's 1st login, 127.0.0.1's 1st

    async def resume(local: str, tok: str) -> dict[str, Any]:
        return await (await open_from(server, local)).request("resume", token=tok)

    for i in range(3):  # alice's 3 resumes per window, from 3 addresses
        assert (await resume(address(i), token))["type"] == "ok"
    reply = await resume(address(3), token)  # her 4th: over the user's rate
    assert reply["code"] == "throttled" and 0 < reply["retry_after"] <= 60, reply
    carol_token = (await (await connect(to=server)).login("carol", PASSWORD)).token
    assert (await resume(address(3), carol_token))["type"] == "ok"  # another user is not affected
    # one address: 5 resumes per window, whoever they are for
    for _ in range(4):
        await resume(address(10), "no such token")
    assert (await resume(address(10), carol_token))["type"] == "ok"
    reply = await resume(address(10), carol_token)
    assert reply["code"] == "throttled" and 0 < reply["retry_after"] <= 60, reply

    # alice's 2nd successful login is allowed, her 3rd is not (the right password, a known address)
    assert (await (await open_from(server, "127.0.0.1")).request("login", username="alice", password=PASSWORD))[
        "type"
    ] == "ok"
    reply = await (await open_from(server, "127.0.0.1")).request("login", username="alice", password=PASSWORD)
    assert reply["code"] == "throttled" and "logins" in reply["message"], reply
    # 127.0.0.1 has made 4 login attempts (carol, alice x3): the next is refused whoever it is
    reply = await (await open_from(server, "127.0.0.1")).request("login", username="carol", password=PASSWORD)
    assert reply["code"] == "throttled" and "address" in reply["message"], reply


async def test_user_exists_is_throttled_with_registration(make_server) -> None:
    server = await make_server(registrations_per_address=3, registration_window=60)
    setup = await open_from(server, address(0))
    await setup.register("alice")
    prober = await open_from(server, "127.0.0.1")
    answers = [
        await prober.request("register", username=name, password=PASSWORD)
        for name in ("alice", "bob", "carol", "dave", "erin")
    ]
    assert [a.get("code") for a in answers[:3]] == ["user_exists", None, None], answers
    for a in answers[3:]:  # the 4th attempt from this address, taken name or not
        assert a["code"] == "throttled" and 0 < a["retry_after"] <= 60, a
    reply = await prober.request("register", username="alice", password=PASSWORD)
    assert reply["code"] == "throttled", "an existing name must not be revealed past the limit"
