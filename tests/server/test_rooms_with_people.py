"""Where `rooms` meets `people`: an invitation from someone you block never
reaches you (live, or at your next login) and the inviter is not told;
`room_info`'s members carry away and status on a `people` connection only."""

from __future__ import annotations

from chinwag.protocol.client import ChatClient
from chinwag.protocol.messages import InvitedEvent

from ..support.events import settled
from ..support.settings import PASSWORD

BOTH = ["rooms", "people"]


async def test_an_invitation_from_a_blocked_user_never_arrives(server, user) -> None:
    mallory = await user("mallory", features=BOTH)
    alice = await user("alice", features=BOTH)
    carol = await user("carol", features=BOTH)
    await alice.block("mallory")
    await mallory.join("den", private=True)
    await carol.join("den2", private=True)
    await mallory.invite("den", "alice")  # ok as usual: mallory is not told
    await carol.invite("den2", "alice")
    live = [e for e in await settled(alice, mallory, carol) if isinstance(e, InvitedEvent)]
    assert live == [InvitedEvent("den2", "carol")]
    await alice.close()
    again = ChatClient("127.0.0.1", server.port, features=BOTH)
    await again.connect()
    await again.login("alice", PASSWORD)
    pending = [e for e in await settled(again) if isinstance(e, InvitedEvent)]
    assert pending == [InvitedEvent("den2", "carol")], "not at login either"
    await again.close()


async def test_room_info_members_carry_status_only_with_people(user) -> None:
    alice = await user("alice", features=BOTH)
    bob = await user("bob", features=["rooms"])
    await alice.join("ops")
    await bob.join("ops")
    await alice.set_status(True, "at lunch")
    rich = {m.user: m for m in (await alice.room_info("ops")).members}
    assert (rich["alice"].away, rich["alice"].status, rich["alice"].role) == (True, "at lunch", "owner")
    assert (rich["bob"].away, rich["bob"].status) == (False, ""), "no status is the empty text"
    plain = await bob.request("room_info", room="ops")
    assert all(set(m) == {"user", "display_name", "role", "online"} for m in plain["members"])
