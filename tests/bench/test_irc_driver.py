"""The IRC driver without I/O (bench/irc.py): lines as ngIRCd 26.1 writes
them are parsed, the client's lines are well formed, and an `IrcSession`
registers, completes a send at its PONG, refuses one at an error numeric,
hands PRIVMSGs to the sink and answers the server's PING. (The driver on a
live ngIRCd runs under `python -m bench --peer ngircd`, which checks loss
and duplication as for chinwag.)"""

from __future__ import annotations

import pytest

from bench.irc import IrcError, IrcSession, Line, format_line, irc_text, parse_line

Outcome = tuple[str | None, str | None]


def registered(nick: str = "alice") -> tuple[IrcSession, list[tuple[str, ...]]]:
    got: list[tuple[str, ...]] = []
    session = IrcSession(nick, sink=lambda *m: got.append(m))
    session.register()
    assert session.take_output() == f"NICK {nick}\r\nUSER {nick} 0 * {nick}\r\n".encode()
    session.receive(
        f":bench.invalid 001 {nick} :Welcome to the Internet Relay Network {nick}!~{nick}@127.0.0.1\r\n".encode()
    )
    assert session.registered
    return session, got


def test_parse_ngircd_lines() -> None:
    assert parse_line(":bench.invalid 001 alice :Welcome to the Internet Relay Network alice!~alice@127.0.0.1") == Line(
        "bench.invalid", "001", ["alice", "Welcome to the Internet Relay Network alice!~alice@127.0.0.1"]
    )
    assert parse_line(":bob!~bob@127.0.0.1 PRIVMSG alice :12 cw0.1 xx") == Line(
        "bob!~bob@127.0.0.1", "PRIVMSG", ["alice", "12 cw0.1 xx"]
    )
    assert parse_line(":bench.invalid PONG bench.invalid :7") == Line("bench.invalid", "PONG", ["bench.invalid", "7"])
    assert parse_line(":bench.invalid 366 alice #bench :End of NAMES list").params[:2] == ["alice", "#bench"]
    assert parse_line("PING :bench.invalid") == Line("", "PING", ["bench.invalid"])
    assert parse_line("ping x") == Line("", "PING", ["x"])
    assert parse_line(":a PRIVMSG b :has :colons: inside").params == ["b", "has :colons: inside"]
    for bad in ("", ":prefix", ":prefix :trailing"):
        with pytest.raises(IrcError):
            parse_line(bad)


def test_format_line() -> None:
    assert format_line("NICK", "alice") == "NICK alice\r\n"
    assert format_line("PRIVMSG", "#bench", "two words") == "PRIVMSG #bench :two words\r\n"
    assert format_line("PRIVMSG", "bob", ":leading") == "PRIVMSG bob ::leading\r\n"
    assert format_line("QUIT", "") == "QUIT :\r\n"
    for params in (["bob", "a\r\nQUIT"], ["b\nb", "x"], ["bob", "nul\0"]):
        with pytest.raises(ValueError, match="CR, LF or NUL"):
            format_line("PRIVMSG", *params)
    with pytest.raises(ValueError, match="only the last"):
        format_line("PRIVMSG", "two words", "x")
    with pytest.raises(ValueError, match="exceeds 512"):
        format_line("PRIVMSG", "bob", "x" * 510)
    assert parse_line(format_line("PRIVMSG", "bob", ":a b")[:-2]).params == ["bob", ":a b"]


def test_send_is_a_privmsg_and_a_ping_and_completes_at_the_pong() -> None:
    session, _ = registered()
    outcomes: list[Outcome] = []
    session.privmsg("bob", 123, "cw0.1", lambda mid, err: outcomes.append((mid, err)))
    session.privmsg("#bench", 124, "cw0.2", lambda mid, err: outcomes.append((mid, err)))
    out = session.take_output().decode()
    assert out == (
        format_line("PRIVMSG", "bob", irc_text(123, "cw0.1"))
        + format_line("PING", "1")
        + format_line("PRIVMSG", "#bench", irc_text(124, "cw0.2"))
        + format_line("PING", "2")
    )
    assert len(irc_text(123, "cw0.1")) == 64
    assert session.in_flight == 2
    session.receive(b":bench.invalid PONG bench.invalid :1\r\n:bench.invalid PO")  # the second PONG split
    assert outcomes == [("alice/cw0.1", None)]
    session.receive(b"NG bench.invalid :2\r\n")
    assert outcomes == [("alice/cw0.1", None), ("alice/cw0.2", None)]
    assert session.in_flight == 0


def test_an_error_numeric_refuses_the_oldest_send_waiting() -> None:
    session, _ = registered()
    outcomes: list[Outcome] = []
    for n, target in enumerate(("nobody", "bob", "#closed"), 1):
        session.privmsg(target, n, f"cw0.{n}", lambda mid, err: outcomes.append((mid, err)))
    session.receive(
        b":bench.invalid 401 alice nobody :No such nick or channel name\r\n"
        b":bench.invalid PONG bench.invalid :1\r\n"
        b":bench.invalid PONG bench.invalid :2\r\n"
        b":bench.invalid 404 alice #closed :Cannot send to channel\r\n"
        b":bench.invalid PONG bench.invalid :3\r\n"
    )
    assert outcomes == [(None, "no_such_user"), ("alice/cw0.2", None), (None, "not_member")]


def test_messages_reach_the_sink_with_the_mid_the_sender_made() -> None:
    session, got = registered("bob")
    text = irc_text(555, "cw1.9")
    session.receive(f":alice!~alice@127.0.0.1 PRIVMSG bob :{text}\r\n".encode())
    session.receive(f":carol!~carol@127.0.0.1 PRIVMSG #bench :{text}\n".encode())  # a bare LF ends a line too
    session.receive(b":dave!~dave@127.0.0.1 PRIVMSG bob :hello\r\n")  # not a bench text: left out
    assert got == [
        ("@alice", "alice/cw1.9", "alice", text, "cw1.9"),
        ("#bench", "carol/cw1.9", "carol", text, "cw1.9"),
    ]
    assert session.heard == 3


def test_server_ping_is_answered() -> None:
    session, _ = registered()
    session.receive(b"PING :bench.invalid\r\n")
    assert session.take_output() == b"PONG bench.invalid\r\n"


def test_join_completes_at_end_of_names() -> None:
    session, _ = registered()
    session.join("#bench")
    assert session.take_output() == b"JOIN #bench\r\n"
    session.receive(b":alice!~alice@127.0.0.1 JOIN :#bench\r\n:bench.invalid 353 alice = #bench :@alice\r\n")
    assert session.joined == set()
    session.receive(b":bench.invalid 366 alice #Bench :End of NAMES list\r\n")
    assert session.joined == {"#bench"}


def test_failures_refuse_what_is_waiting() -> None:
    taken = IrcSession("alice")
    taken.register()
    taken.receive(b":bench.invalid 433 * alice :Nickname already in use\r\n")
    assert isinstance(taken.failure, IrcError) and "registration refused" in str(taken.failure)

    session, _ = registered()
    outcomes: list[Outcome] = []
    session.privmsg("bob", 1, "cw0.1", lambda mid, err: outcomes.append((mid, err)))
    session.privmsg("bob", 2, "cw0.2", lambda mid, err: outcomes.append((mid, err)))
    session.receive(b":bench.invalid PONG bench.invalid :2\r\n")  # out of order: the stream is broken
    assert session.failure is not None
    assert outcomes == [(None, "closed"), (None, "closed")]

    gone, _ = registered()
    gone.privmsg("bob", 1, "cw0.1", lambda mid, err: outcomes.append((mid, err)))
    gone.abandon("closed")
    assert outcomes[-1] == (None, "closed") and gone.in_flight == 0

    flooded, _ = registered()
    flooded.receive(b"x" * 5000)  # no line end in far more than a line
    assert flooded.failure is not None
