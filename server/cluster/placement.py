"""Which node a Room goes to: pure selection over the registry's heartbeats, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .load import NodeLoad


@dataclass(frozen=True)
class Capacity:
    """Above these a node is full: it gets a new Room only when every live node is full."""

    max_cpu: float = 0.8  # of one core: one process is one node
    max_participants: int | None = None


def alive(node: NodeLoad, now: float, stale_after_s: float) -> bool:
    return now - node.seen_at <= stale_after_s


def full(node: NodeLoad, capacity: Capacity) -> bool:
    return node.cpu >= capacity.max_cpu or (
        capacity.max_participants is not None and node.participants >= capacity.max_participants)


def choose_node(nodes: Sequence[NodeLoad], *, now: float, stale_after_s: float,
                sticky: str | None = None, capacity: Capacity | None = None) -> NodeLoad | None:
    """The node for a Room: `sticky` (where the Room is already) while it is alive and not
    draining, even when full, as moving a running Room costs more than a busy node; otherwise
    the live, non-draining node with the most headroom (not full, then lowest CPU, then fewest
    participants, then node id so every node chooses alike). None when no node can take it."""
    capacity = capacity or Capacity()
    candidates = [n for n in nodes if alive(n, now, stale_after_s) and not n.draining]
    for node in candidates:
        if node.node_id == sticky:
            return node
    if not candidates:
        return None
    return min(candidates, key=lambda n: (full(n, capacity), n.cpu, n.participants, n.node_id))
