"""The pure choice of a Room's node, and the heartbeat's fields and rates."""

from __future__ import annotations

import pytest

from server.cluster import Capacity, LoadMeter, NodeLoad, Usage, choose_node

NOW = 1_000_000.0


def node(node_id: str, *, cpu: float = 0.1, participants: int = 0, age_s: float = 1.0,
         draining: bool = False) -> NodeLoad:
    return NodeLoad(node_id=node_id, url=f"http://{node_id}", started_at=NOW - 3600, cpu=cpu,
                    rooms=1, participants=participants, packets_per_s=0.0, draining=draining,
                    seen_at=NOW - age_s)


def choose(nodes: list[NodeLoad], sticky: str | None = None,
           capacity: Capacity | None = None) -> str | None:
    chosen = choose_node(nodes, now=NOW, stale_after_s=15, sticky=sticky, capacity=capacity)
    return None if chosen is None else chosen.node_id


def test_empty_input_and_no_live_node() -> None:
    assert choose([]) is None
    assert choose([node("a", age_s=16), node("b", draining=True)]) is None


def test_lowest_cpu_then_fewest_participants_then_id() -> None:
    assert choose([node("a", cpu=0.5), node("b", cpu=0.2), node("c", cpu=0.3)]) == "b"
    assert choose([node("a", participants=9), node("b", participants=3)]) == "b"
    assert choose([node("b"), node("a"), node("c")]) == "a"
    assert choose([node("c"), node("b"), node("a")]) == "a"  # input order does not matter


def test_sticky_node_kept_while_alive_even_when_busier() -> None:
    nodes = [node("a", cpu=0.1), node("b", cpu=0.7, participants=300)]
    assert choose(nodes, sticky="b") == "b"
    assert choose(nodes, sticky="b", capacity=Capacity(max_cpu=0.5)) == "b"  # full, but there


def test_sticky_node_stale_draining_or_unknown_moves() -> None:
    assert choose([node("a", cpu=0.4), node("b", age_s=15.5)], sticky="b") == "a"
    assert choose([node("a", cpu=0.4), node("b", draining=True)], sticky="b") == "a"
    assert choose([node("a", cpu=0.4), node("c", cpu=0.5)], sticky="gone") == "a"


def test_stale_and_draining_nodes_ignored() -> None:
    nodes = [node("idle-but-dead", cpu=0.0, age_s=60), node("draining", cpu=0.0, draining=True),
             node("busy", cpu=0.6)]
    assert choose(nodes) == "busy"
    assert choose([node("a", age_s=15)]) == "a"  # exactly at the limit still counts


def test_full_nodes_only_when_all_are_full() -> None:
    capacity = Capacity(max_cpu=0.8, max_participants=100)
    assert choose([node("a", cpu=0.1, participants=100), node("b", cpu=0.5)],
                  capacity=capacity) == "b"
    assert choose([node("a", cpu=0.9), node("b", cpu=0.85)], capacity=capacity) == "b"


def test_node_load_round_trips_through_a_redis_hash() -> None:
    load = node("host:8080", cpu=0.123456789, participants=42, draining=True)
    as_bytes = {k.encode(): v.encode() for k, v in load.to_dict().items()}
    assert NodeLoad.from_dict(load.to_dict()) == load
    assert NodeLoad.from_dict(as_bytes) == load
    with pytest.raises(KeyError):
        NodeLoad.from_dict({})


def test_meter_rates_between_samples() -> None:
    t, cpu = [0.0], [0.0]
    meter = LoadMeter(clock=lambda: t[0], cpu_clock=lambda: cpu[0])
    assert meter.rates(Usage(rooms=1, forwarded={1: 0})) == (0.0, 0.0)  # only a start
    t[0], cpu[0] = 2.0, 0.5
    assert meter.rates(Usage(rooms=1, forwarded={1: 400})) == (0.25, 200.0)
    # Room 1 lost a Subscription (its count dropped), room 2 opened: no negative rate.
    t[0], cpu[0] = 4.0, 1.5
    assert meter.rates(Usage(rooms=2, forwarded={1: 300, 2: 100})) == (0.5, 50.0)
    t[0] = 5.0
    assert meter.rates(Usage()) == (0.0, 0.0)  # every Room closed
