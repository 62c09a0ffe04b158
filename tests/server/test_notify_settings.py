"""chinwag's `notify` extension (docs/protocol.md): notification levels per
conversation and highlight keywords, stored on the server so they follow the
user: set on one device, answered on every other `notify` device as a
`notify_settings` event (on any node), there again at the next login."""

from __future__ import annotations

from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import NotifySettings

from ..support.events import drain, error_of, next_of, settled
from ..support.settings import PASSWORD

NOTIFY = ["notify"]


async def test_levels_and_keywords_follow_the_user_to_their_other_notify_devices(make_server, user) -> None:
    a, b = await make_server(), await make_server()
    phone = await user("alice", to=a, features=NOTIFY)
    await user("bob", to=a)
    laptop = ChatClient("127.0.0.1", b.port, features=NOTIFY)  # another node
    await laptop.connect()
    await laptop.login("alice", PASSWORD)
    old = ChatClient("127.0.0.1", a.port)  # a version 1 device: no event
    await old.connect()
    await old.login("alice", PASSWORD)
    assert "notify" in phone.features

    assert await phone.notify_settings() == NotifySettings({}, ())
    got = await phone.set_notify("#lobby", "none")
    assert got.levels == {"#lobby": "none"} and got.level("#lobby") == "none"
    assert (await next_of(laptop, NotifySettings)).levels == {"#lobby": "none"}
    await phone.set_notify("@bob", "mentions")
    words = await phone.set_highlights(["Deploy", "deploy", " outage "])
    assert words.words == ("Deploy", "outage"), "trimmed, and once case-insensitively"
    synced = [e for e in await drain(laptop) if isinstance(e, NotifySettings)]
    assert synced[-1] == NotifySettings({"#lobby": "none", "@bob": "mentions"}, ("Deploy", "outage"))
    assert not [e for e in await settled(phone) if isinstance(e, NotifySettings)], (
        "not echoed to the device that set it"
    )
    assert not [e for e in await settled(old) if isinstance(e, NotifySettings)]

    reset = await laptop.set_notify("#lobby", None)
    assert reset.levels == {"@bob": "mentions"} and reset.level("#lobby") == "mentions", "a room's default"
    assert NotifySettings({}, ()).level("@bob") == "all", "a direct conversation's default"
    await phone.close()
    again = await user("alice", to=b, features=NOTIFY)
    assert await again.notify_settings() == NotifySettings({"@bob": "mentions"}, ("Deploy", "outage"))
    await laptop.close()
    await old.close()


async def test_bad_settings_are_refused_and_change_nothing(user) -> None:
    alice = await user("alice", features=NOTIFY)
    await alice.set_highlights(["ship it"])
    await error_of(alice.request("notify", conv="#lobby", level="loud"), "bad_request")
    await error_of(alice.request("notify", conv="#nowhere", level="all"), "no_such_room")
    await error_of(alice.request("notify", conv="@nobody", level="all"), "no_such_user")
    await error_of(alice.request("highlights", words="deploy"), "bad_request")
    await error_of(alice.request("highlights", words=["bell\x07"]), "bad_request")
    await error_of(alice.request("highlights", words=["  "]), "bad_request")
    await error_of(alice.request("highlights", words=["x" * 41]), "bad_request")
    await error_of(alice.request("highlights", words=[f"w{i}" for i in range(21)]), "too_large")
    assert await alice.notify_settings() == NotifySettings({}, ("ship it",))
    await alice.set_highlights([])
    assert (await alice.notify_settings()).words == ()


async def test_a_room_you_are_not_in_has_no_level_to_set(user) -> None:
    owner = await user("alice")
    await owner.join("ops")
    bob = await user("bob", features=NOTIFY)
    await error_of(bob.set_notify("#ops", "all"), "not_member")
    await bob.join("ops")
    assert (await bob.set_notify("#ops", "all")).levels == {"#ops": "all"}
    await bob.leave("ops")
    assert (await bob.notify_settings()).levels == {}, "a room left shows no level"
