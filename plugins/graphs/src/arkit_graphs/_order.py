"""Node orders shared by the tokenizers: breadth-first search from node 0, neighbours by index."""

from __future__ import annotations

from .graph import Graph

__all__ = ["bfs_order", "bandwidth"]


def bfs_order(graph: Graph) -> list[int]:
    """Nodes in BFS order from node 0 (then from the smallest unvisited node, for each other component)."""
    order: list[int] = []
    seen = [False] * graph.n
    for root in range(graph.n):
        if seen[root]:
            continue
        seen[root] = True
        queue = [root]
        head = 0
        while head < len(queue):
            v = queue[head]
            head += 1
            for w in sorted(graph.neighbours[v]):
                if not seen[w]:
                    seen[w] = True
                    queue.append(w)
        order.extend(queue)
    return order


def bandwidth(graph: Graph) -> int:
    """The largest index distance between neighbours once the graph is in BFS order (0 without edges)."""
    position = {v: i for i, v in enumerate(bfs_order(graph))}
    return max((abs(position[u] - position[v]) for u, v in graph.edges), default=0)
