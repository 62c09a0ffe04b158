"""`people`: status, away and the display name (`status`, `profile`) as
other users and the user's own other devices see them, and version 1
connections seeing exactly what they saw before."""

from __future__ import annotations

import pytest

from chinwag.protocol.messages import MemberEvent, PresenceEvent

from ..support.events import barrier, error_of, next_of, pending, settled
from ..support.settings import PASSWORD

PEOPLE = ["people"]


def presences(events: list[object]) -> list[PresenceEvent]:
    return [e for e in events if isinstance(e, PresenceEvent)]


async def test_status_goes_to_others_and_own_other_devices_with_people_only(user, connect) -> None:
    phone = await user("alice", features=PEOPLE)
    laptop = await user("alice", features=PEOPLE)
    bob = await user("bob", features=PEOPLE)
    carol = await user("carol")  # version 1
    await settled(phone)
    await settled(laptop)
    await settled(carol)
    await settled(bob)

    await phone.set_status(True, "at lunch")
    for viewer in (bob, laptop):
        seen = await next_of(viewer, PresenceEvent)
        assert seen.online is True
        assert (seen.user.username, seen.user.away, seen.user.status) == ("alice", True, "at lunch")
    assert presences(await settled(phone)) == []  # the device that made the change has its ok
    assert presences(await settled(carol, phone)) == []  # v1: presence means online/offline only

    await phone.set_status(False)  # text left out: cleared
    seen = await next_of(bob, PresenceEvent)
    assert (seen.user.away, seen.user.status) == (False, "")


async def test_who_and_users_carry_away_and_status_only_with_people(user, raw) -> None:
    alice = await user("alice", features=PEOPLE)
    await alice.set_status(True, "🌴 back monday")
    bob = await user("bob", features=PEOPLE)
    listed = {u.username: u for u in await bob.who()}
    assert (listed["alice"].away, listed["alice"].status) == (True, "🌴 back monday")
    assert (listed["bob"].away, listed["bob"].status) == (False, "")
    found = {u.username: u for u in await bob.users(prefix="al")}
    assert (found["alice"].away, found["alice"].status) == (True, "🌴 back monday")

    v1 = await raw()
    await v1.register("carol")
    await v1.ok("login", username="carol", password=PASSWORD)
    for kind in ("who", "users"):
        reply = await v1.ok(kind)
        for u in reply["users"]:
            assert set(u) == {"username", "display_name", "online"}, u


async def test_v1_presence_and_login_user_objects_are_unchanged(user, raw) -> None:
    """A version 1 connection's presence and login `user` have exactly the
    version 1 fields, even for a user who is away with a status."""
    v1 = await raw()
    await v1.register("carol")
    login = await v1.ok("login", username="carol", password=PASSWORD)
    assert set(login["user"]) == {"username", "display_name"}
    alice = await user("alice", features=PEOPLE)
    await alice.set_status(True, "busy")
    await alice.close()
    frames = []
    while len([f for f in frames if f.get("type") == "presence"]) < 2:
        frames.append(await v1.recv())
    for frame in frames:
        if frame.get("type") == "presence":
            assert set(frame["user"]) == {"username", "display_name"}, frame
    assert [f["online"] for f in frames if f.get("type") == "presence"] == [True, False]


async def test_status_is_stored_and_survives_reconnects_and_logout(user) -> None:
    """Away is not cleared by going offline: only the user clears it."""
    alice = await user("alice", features=PEOPLE)
    await alice.set_status(True, "on holiday")
    await alice.logout()
    await alice.close()
    again = await user("alice", features=PEOPLE)
    assert (again.session.user.away, again.session.user.status) == (True, "on holiday")
    bob = await user("bob", features=PEOPLE)
    listed = {u.username: u for u in await bob.who()}
    assert (listed["alice"].away, listed["alice"].status) == (True, "on holiday")
    await again.close()
    offline = await next_of(bob, PresenceEvent)
    assert (offline.online, offline.user.away, offline.user.status) == (False, True, "on holiday")


async def test_online_presence_carries_the_stored_status(user) -> None:
    bob = await user("bob", features=PEOPLE)
    alice = await user("alice", features=PEOPLE)
    seen = await next_of(bob, PresenceEvent)
    assert (seen.user.username, seen.online, seen.user.away) == ("alice", True, False)
    await alice.set_status(True, "brb")
    await next_of(bob, PresenceEvent)
    await alice.close()
    await next_of(bob, PresenceEvent)
    await user("alice", features=PEOPLE)
    seen = await next_of(bob, PresenceEvent)
    assert (seen.online, seen.user.away, seen.user.status) == (True, True, "brb")


async def test_profile_renames_every_connection_and_tells_people(user) -> None:
    phone = await user("alice", features=PEOPLE)
    laptop = await user("alice")  # a version 1 device of hers takes the name too
    bob = await user("bob", features=PEOPLE)
    await bob.join("ops")
    await settled(bob)
    me = await phone.set_display_name("Alice Liddell")
    assert (me.username, me.display_name, me.away, me.status) == ("alice", "Alice Liddell", False, "")
    seen = await next_of(bob, PresenceEvent)
    assert (seen.user.username, seen.user.display_name, seen.online) == ("alice", "Alice Liddell", True)
    assert {u.username: u.display_name for u in await bob.who()}["alice"] == "Alice Liddell"
    await laptop.join("ops")  # the session's name changed on her other connection too
    joined = await next_of(bob, MemberEvent)
    assert (joined.user.username, joined.user.display_name) == ("alice", "Alice Liddell")
    mine = [p for p in presences(await settled(laptop, phone)) if p.user.username == "alice"]
    assert mine == []  # v1: no presence for a rename


async def test_profile_survives_relogin(user) -> None:
    alice = await user("alice", features=PEOPLE)
    await alice.set_display_name("Al")
    await alice.close()
    again = await user("alice", features=PEOPLE)
    assert again.session.user.display_name == "Al"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("\u202eevil", "bad_request"),  # bidi override
        ("a\u2066b", "bad_request"),  # bidi isolate
        ("\x1b[31mred", "bad_request"),  # escape sequence
        ("two\nlines", "bad_request"),
        ("\x00", "bad_request"),
        ("x" * 101, "too_large"),
        ("y" * 50_000, "too_large"),
    ],
)
async def test_hostile_status_texts_are_refused(user, text: str, code: str) -> None:
    alice = await user("alice", features=PEOPLE)
    bob = await user("bob", features=PEOPLE)
    await error_of(alice.set_status(True, text), code)
    assert presences(await settled(bob, alice)) == []
    assert {u.username: u.status for u in await bob.who()}["alice"] == ""


@pytest.mark.parametrize("name", ["\u202eevil", "\x1b]0;x\x07", "", "   ", "z" * 65, "tab\there", "q" * 40_000])
async def test_hostile_display_names_are_refused(user, name: str) -> None:
    alice = await user("alice", features=PEOPLE)
    await error_of(alice.set_display_name(name), "bad_request")
    assert {u.username: u.display_name for u in await alice.who()}["alice"] == "alice"


async def test_status_and_profile_on_a_v1_connection_are_answered(user) -> None:
    """A request of a feature's type is answered on any connection; the
    reply's user object is the version 1 one."""
    alice = await user("alice")
    await alice.set_status(True, "quiet")
    me = await alice.set_display_name("A")
    assert (me.display_name, me.away, me.status) == ("A", None, None)
    await barrier(alice)
    assert presences(await pending(alice)) == []


async def test_status_and_name_changes_take_from_the_send_rate(make_server, user) -> None:
    """Each goes to everyone online, like a lobby message: the same rate."""
    server = await make_server(send_rate=0.001, send_burst=2)
    alice = await user("alice", to=server, features=PEOPLE)
    await alice.set_status(True, "one")
    await alice.set_display_name("Two")
    refused = await error_of(alice.set_status(False, "three"), "rate_limited")
    assert refused.retry_after is not None and refused.retry_after > 0
    await error_of(alice.set_display_name("Four"), "rate_limited")
    assert {u.username: (u.display_name, u.status) for u in await alice.who()}["alice"] == ("Two", "one")


async def test_register_and_login_replies_carry_people_fields_only_with_people(connect) -> None:
    people = await connect(features=PEOPLE)
    me = await people.register("dora", PASSWORD, "Dora")
    assert (me.display_name, me.away, me.status) == ("Dora", False, "")
    v1 = await connect()
    me = await v1.register("eve", PASSWORD)
    assert (me.away, me.status) == (None, None)
    session = await v1.login("eve", PASSWORD)
    assert (session.user.away, session.user.status) == (None, None)
