"""Coordination between nodes through Redis (issue 8): the node registry with each node's
load, and where each Room lives. Without Redis none of it runs: one process holds every Room."""

from .load import LoadMeter, NodeLoad, Usage, usage_of
from .placement import Capacity, choose_node
from .registry import NodeRegistry, node_url, read_nodes, request_drain

__all__ = ["Capacity", "LoadMeter", "NodeLoad", "NodeRegistry", "Usage", "choose_node",
           "node_url", "read_nodes", "request_drain", "usage_of"]
