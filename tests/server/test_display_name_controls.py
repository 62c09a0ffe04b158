"""A display name with a control character (C0, DEL, C1, bidi) is refused by
the real server with `bad_request` and a sentence naming the character; the
connection stays and nothing is stored."""

from __future__ import annotations

import pytest

from chinwag.protocol.errors import ErrorCode, ServerError

from ..support.settings import PASSWORD


@pytest.mark.parametrize(
    ("display", "sentence"),
    [
        ("Bob\u202eevil", "display_name contains U+202E RIGHT-TO-LEFT OVERRIDE, a control character"),
        ("csi\u009b31m", "display_name contains U+009B CONTROL SEQUENCE INTRODUCER, a control character"),
        ("nel\u0085", "display_name contains U+0085 NEXT LINE, a control character"),
        ("esc\x1b[2J", "display_name contains U+001B ESCAPE, a control character"),
        ("\u2066iso", "display_name contains U+2066 LEFT-TO-RIGHT ISOLATE, a control character"),
        ("del\x7f", "display_name contains U+007F DELETE, a control character"),
    ],
    ids=["rlo", "csi", "nel", "esc", "lri", "del"],
)
async def test_register_with_a_control_character_in_the_display_name(connect, display: str, sentence: str) -> None:
    client = await connect()
    with pytest.raises(ServerError) as refused:
        await client.register("mallory", PASSWORD, display)
    assert refused.value.code == ErrorCode.BAD_REQUEST
    assert refused.value.message == sentence
    # The connection stays, and "mallory" was not created: registering works now.
    user = await client.register("mallory", PASSWORD, "[bold]Mallory[/]")
    assert (user.username, user.display_name) == ("mallory", "[bold]Mallory[/]")
