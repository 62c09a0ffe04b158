"""A local test cluster's nodes get ports of their own: a port (or its bus
port, port + 10000) already chosen for a node that has not bound it yet is
never chosen again. A second pick of the same port made the cluster's start
fail on the node's directory (FileExistsError), for every test after it."""

from __future__ import annotations

import random
import socket

from chinwag.server.embedded_redis import _free_cluster_port


class Picks(random.Random):
    """Answers randint with the given ports, in order."""

    def __init__(self, ports: list[int]) -> None:
        super().__init__(0)
        self.ports = list(ports)

    def randint(self, a: int, b: int) -> int:
        return self.ports.pop(0)


def _free_pair(after: int = 41_000) -> int:
    for port in range(after + 1, 45_000):
        try:
            for p in (port, port + 10_000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    raise AssertionError("no free port pair to test with")


def test_a_port_already_chosen_is_not_chosen_again() -> None:
    first = _free_pair()
    taken = [first, first + 10_000]
    # `first` is free to bind (its node has not started yet), and is still refused
    second = _free_pair(after=first)
    assert _free_cluster_port(taken, Picks([first, first, second])) == second


def test_a_port_whose_bus_port_is_a_chosen_node_port_is_skipped() -> None:
    first = _free_pair()
    # `first - 10_000`'s bus port is `first`: a node already listens there
    second = _free_pair(after=first)
    assert _free_cluster_port([first, first + 10_000], Picks([first - 10_000, second])) == second


def test_without_taken_ports_the_first_free_pair_is_chosen() -> None:
    first = _free_pair()
    assert _free_cluster_port((), Picks([first])) == first
