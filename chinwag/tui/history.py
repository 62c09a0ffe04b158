"""Which `history` pages to ask for, and in what order: the page that
ends with a message jumped to, and pages into a gap of the loaded history
(from its upper end, which history pages back from; or from its lower end,
by aiming `before` a little past the gap's start). Async over the client's
requests, no Textual: the chat screen runs these in workers and merges the
pages into the conversation (timeline.py says what a page leaves known).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol.client import Requests
from ..protocol.messages import Message
from .timeline import Conversation, Gap, next_mid, order_key

PAGE = 100  # messages of one history page
AROUND = PAGE // 2  # messages up to a message jumped to (the gap after it fills next)
PROBE_ATTEMPTS = 5  # pages tried to fill a gap from its lower end
# Messages from others a catch-up fetches at most, past what the replay brought
# (`unread` is the server's number, and could be anything): 15 pages of 200,
# a fraction of a second of the server's time and a few MB here, and every line
# held costs the timeline's layout on each rebuild. Past it the "new messages"
# line sits at the oldest message held, as with no catch-up, older ones on scroll.
CATCH_UP_MAX = 3_000
# Messages a catch-up reads at most, the user's own included (they do not
# count toward `unread`, so a backlog of mostly those would be read to the
# start of the conversation): past it, as past CATCH_UP_MAX.
CATCH_UP_MOST = 2 * CATCH_UP_MAX


@dataclass(frozen=True, slots=True)
class Page:
    """A page of `history(before=before)`, oldest first; `more`: older messages exist."""

    before: str | None
    messages: list[Message]
    more: bool


async def page(link: Requests, address: str, before: str | None) -> Page:
    messages, more = await link.history(address, before, PAGE)
    return Page(before, messages, more)


async def backlog(link: Requests, address: str, before: str | None, held: int, target: int, me: str) -> list[Message]:
    """A backlog the login/resume replay left out (`ChatClient.catch_up`):
    history back from `before` until the messages from others reach
    `target`, `held` of them held already; oldest first."""
    return await link.catch_up(address, target, before, held, me=me, most=CATCH_UP_MOST)


async def around(link: Requests, address: str, mid: str) -> Page:
    """The page that ends with message `mid`."""
    before = next_mid(mid)
    messages, more = await link.history(address, before, AROUND)
    return Page(before, messages, more)


async def into_gap(link: Requests, conv: Conversation, gap: Gap, downward: bool) -> Page:
    """A page into `gap`. Downward, the page should hold the messages right
    after the gap's start: the aim comes closer when a page does not reach
    back to it and goes further when a page brings too little (many
    messages can share a millisecond), and falls back to the gap's upper
    end when nothing reaches back."""
    if not downward:
        return await page(link, conv.address, gap.hi_mid)
    step = conv.probe_step(gap, PAGE)
    best: Page | None = None
    for _ in range(PROBE_ATTEMPTS):
        before = conv.probe_before(gap, step)
        messages, more = await link.history(conv.address, before, PAGE)
        if conv.reaches(gap, messages, PAGE):
            best = Page(before, messages, more)
            fresh = sum(1 for m in messages if order_key(m) > gap.lo)
            if before == gap.hi_mid or fresh >= PAGE // 2:
                break
            step *= 4
        elif best is not None or step == 1:
            break  # wider reached too far, or a millisecond holds more than a page
        else:
            step = max(1, step // 4)
    return best if best is not None else await page(link, conv.address, gap.hi_mid)
