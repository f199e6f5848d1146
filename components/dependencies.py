"""The dependency graph of one page, in memory: cycles, upstream and downstream, blast radius and the status
changes a status change suggests for the dependents.

A page's graph loads in two queries (its components, its edges) whatever its size, and everything below is
plain Python over it, linear in nodes plus edges. Writes live in components.services; this module only reads.

Words: `A depends on B` is an edge A → B. B is *upstream* of A, A is *downstream* of (a dependent of) B.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from components.models import (
    SEVERITY,
    Component,
    ComponentDependency,
    ComponentStatus,
    DependencyKind,
    worst_status,
)
from statuspage.models import Page

S = ComponentStatus
HARD, SOFT = DependencyKind.HARD, DependencyKind.SOFT


@dataclass(frozen=True)
class Link:
    """One edge seen from one end: the component at the other end and the kind of the dependency."""

    component: Component
    kind: str


@dataclass(frozen=True)
class Affected:
    """A component in a blast radius. `via` is the path from a start to the component's upstream on that path
    (so `via[0]` is a start and `len(via) == depth`); `kind` is hard when every edge on the path is hard."""

    component: Component
    depth: int
    via: tuple[Component, ...]
    kind: str


@dataclass(frozen=True)
class Proposal:
    """A suggested status for a dependent of a component whose status changes."""

    component: Component
    current: str
    suggested: str
    via: tuple[Component, ...]  # from the changed component to this one's upstream, as in Affected
    kind: str

    @property
    def worsens(self) -> bool:
        return SEVERITY[self.suggested] > SEVERITY[self.current]


@dataclass
class Graph:
    """Components of one page by id, and their edges both ways, each list in display order."""

    nodes: dict[int, Component]
    up: dict[int, list[tuple[int, str]]] = field(default_factory=dict)  # id -> [(depends_on id, kind)]
    down: dict[int, list[tuple[int, str]]] = field(default_factory=dict)  # id -> [(dependent id, kind)]
    rank: dict[int, int] = field(default_factory=dict)  # id -> place in display order (position, id)

    @classmethod
    def load(cls, page: Page | int) -> Graph:
        """The whole graph of `page` (or of the page with this id): two queries."""
        nodes = {c.pk: c for c in Component.objects.for_page(page).order_by("position", "id")}
        edges = ComponentDependency.objects.for_page(page).values_list(
            "component_id", "depends_on_id", "kind"
        )
        return cls.build(nodes, edges)

    @classmethod
    def build(cls, nodes: dict[int, Component], edges: Iterable[tuple[int, int, str]]) -> Graph:
        rank = {pk: i for i, pk in enumerate(sorted(nodes, key=lambda pk: (nodes[pk].position, pk)))}
        graph = cls(nodes=nodes, up={pk: [] for pk in nodes}, down={pk: [] for pk in nodes}, rank=rank)
        edges = [e for e in edges if e[0] in rank and e[1] in rank]
        # Appending in the order of the far end keeps every adjacency list in display order: two sorts of
        # all the edges instead of one per component.
        for component_id, depends_on_id, kind in sorted(edges, key=lambda e: rank[e[1]]):
            graph.up[component_id].append((depends_on_id, kind))
        for component_id, depends_on_id, kind in sorted(edges, key=lambda e: rank[e[0]]):
            graph.down[depends_on_id].append((component_id, kind))
        return graph

    def names(self, ids: Iterable[int]) -> list[str]:
        return [self.nodes[pk].name for pk in ids]

    # --- Cycles ---------------------------------------------------------------------------------------

    def cycle_if_depends(self, component_id: int, targets: Iterable[int]) -> list[int] | None:
        """The cycle that making `component_id` depend on each of `targets` would close, as ids in
        "depends on" order from the component back to it (`[a, b, a]`), or None. The shortest one when
        there are several. The component's current upstream edges play no part (they cannot be on such a
        cycle in an acyclic graph), so this also checks replacing them."""
        targets = set(targets)
        if component_id in targets:
            return [component_id, component_id]
        # Who depends on the component, nearest first: a target among them would depend on it and back.
        parent = {component_id: component_id}
        queue = deque([component_id])
        while queue:
            node = queue.popleft()
            for dependent, _ in self.down[node]:
                if dependent in parent:
                    continue
                parent[dependent] = node
                if dependent in targets:
                    path = [dependent]  # dependent → ... → component, in "depends on" order
                    while path[-1] != component_id:
                        path.append(parent[path[-1]])
                    return [component_id, *path]
                queue.append(dependent)
        return None

    # --- Reads ------------------------------------------------------------------------------------------

    def upstream(self, component_id: int) -> list[Link]:
        return [Link(self.nodes[pk], kind) for pk, kind in self.up[component_id]]

    def downstream(self, component_id: int) -> list[Link]:
        return [Link(self.nodes[pk], kind) for pk, kind in self.down[component_id]]

    def blast_radius(self, start_ids: Iterable[int]) -> list[Affected]:
        """Every transitive dependent of the starts, once, by its shortest path (among shortest paths a
        hard one first, then the upstream first in display order), ordered by depth then position. The
        starts themselves are not in it."""
        starts = sorted(dict.fromkeys(start_ids), key=self.rank.__getitem__)
        paths: dict[int, tuple[int, ...]] = {s: () for s in starts}
        hard: dict[int, bool] = {s: True for s in starts}
        result: list[Affected] = []
        frontier, depth = starts, 0
        while frontier:
            depth += 1
            found: dict[int, tuple[bool, int]] = {}
            for node in frontier:
                for dependent, kind in self.down[node]:
                    if dependent in paths:
                        continue
                    is_hard = hard[node] and kind == HARD
                    if dependent not in found or (is_hard and not found[dependent][0]):
                        found[dependent] = (is_hard, node)
            frontier = sorted(found, key=self.rank.__getitem__)
            for node in frontier:
                is_hard, parent = found[node]
                paths[node], hard[node] = (*paths[parent], parent), is_hard
                result.append(
                    Affected(
                        component=self.nodes[node],
                        depth=depth,
                        via=tuple(self.nodes[pk] for pk in paths[node]),
                        kind=HARD if is_hard else SOFT,
                    )
                )
        return result

    def layers(self) -> list[list[int]]:
        """Every component in columns: roots (depending on nothing) first, each component one column right of
        its furthest upstream, so every edge points right. For drawing the whole page."""
        level: dict[int, int] = {}
        indegree = {pk: len(self.up[pk]) for pk in self.nodes}
        queue = deque(pk for pk in sorted(self.nodes, key=self.rank.__getitem__) if indegree[pk] == 0)
        for pk in queue:
            level[pk] = 0
        while queue:
            node = queue.popleft()
            for dependent, _ in self.down[node]:
                level[dependent] = max(level.get(dependent, 0), level[node] + 1)
                indegree[dependent] -= 1
                if indegree[dependent] == 0:
                    queue.append(dependent)
        columns: list[list[int]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
        for pk in sorted(level, key=self.rank.__getitem__):
            columns[level[pk]].append(pk)
        stray = [pk for pk in sorted(self.nodes, key=self.rank.__getitem__) if pk not in level]
        if stray:  # only on a cycle, which the services refuse; drawn apart rather than lost
            columns.append(stray)
        return columns

    # --- Proposals --------------------------------------------------------------------------------------

    def propose(self, component_id: int, new_status: str, *, old_status: str | None = None) -> list[Proposal]:
        """What the dependents of a component going from `old_status` (its status in the graph unless
        given) to `new_status` should become. See `propose` below for the rules."""
        old = old_status if old_status is not None else self.nodes[component_id].status
        if SEVERITY[new_status] > SEVERITY[old]:
            return self._propose_worse(component_id, new_status)
        if SEVERITY[new_status] < SEVERITY[old]:
            return self._propose_better(component_id, new_status, old)
        return []

    def _closure(self, start: int) -> list[int]:
        """The start's transitive dependents in an order where every upstream comes before its dependents."""
        seen = {start}
        queue = deque([start])
        while queue:
            for dependent, _ in self.down[queue.popleft()]:
                if dependent not in seen:
                    seen.add(dependent)
                    queue.append(dependent)
        indegree = {pk: sum(1 for u, _ in self.up[pk] if u in seen) for pk in seen if pk != start}
        order, ready = [], deque([start])
        while ready:
            node = ready.popleft()
            if node != start:
                order.append(node)
            for dependent, _ in self.down[node]:
                indegree[dependent] -= 1
                if indegree[dependent] == 0:
                    ready.append(dependent)
        return order

    def _impact(self, start: int, status: str, order: list[int]) -> tuple[dict[int, str], dict[int, tuple]]:
        """The status `start` being in `status` implies for each dependent (through its worst path), with
        that path and whether it is all hard."""
        impact: dict[int, str] = {start: status}
        best: dict[int, tuple] = {start: ((), True)}  # id -> (path of ids before it, all hard)
        for node in order:
            chosen = None
            for upstream_id, kind in self.up[node]:
                if upstream_id not in impact:
                    continue
                carried = carry(impact[upstream_id], kind)
                path, all_hard = best[upstream_id]
                candidate = (
                    SEVERITY[carried],
                    -len(path),
                    carried,
                    (*path, upstream_id),
                    all_hard and kind == HARD,
                )
                if chosen is None or candidate[:2] > chosen[:2]:
                    chosen = candidate
            assert chosen is not None  # every node of the closure has an upstream in it
            impact[node], best[node] = chosen[2], (chosen[3], chosen[4])
        return impact, best

    def _proposal(self, node: int, suggested: str, best: dict[int, tuple]) -> Proposal:
        path, all_hard = best[node]
        return Proposal(
            component=self.nodes[node],
            current=self.nodes[node].status,
            suggested=suggested,
            via=tuple(self.nodes[pk] for pk in path),
            kind=HARD if all_hard else SOFT,
        )

    def _ordered(self, start: int, proposals: list[Proposal]) -> list[Proposal]:
        depth = {a.component.pk: a.depth for a in self.blast_radius([start])}
        return sorted(proposals, key=lambda p: (depth[p.component.pk], self.rank[p.component.pk]))

    def _propose_worse(self, start: int, new_status: str) -> list[Proposal]:
        order = self._closure(start)
        impact, best = self._impact(start, new_status, order)
        proposals = [
            self._proposal(node, impact[node], best)
            for node in order
            if SEVERITY[impact[node]] > SEVERITY[self.nodes[node].status]
        ]
        return self._ordered(start, proposals)

    def _propose_better(self, start: int, new_status: str, old_status: str) -> list[Proposal]:
        order = self._closure(start)
        # What the old status could have caused: a dependent worse than that is down for another reason.
        caused, best = self._impact(start, old_status, order)
        after: dict[int, str] = {start: new_status}
        proposals = []
        for node in order:
            current = self.nodes[node].status
            justified = worst_status(
                carry(after.get(upstream_id, self.nodes[upstream_id].status), kind)
                for upstream_id, kind in self.up[node]
            )
            explained = SEVERITY[current] <= SEVERITY[caused[node]] and (
                current != S.UNDER_MAINTENANCE or caused[node] == S.UNDER_MAINTENANCE
            )
            if explained and SEVERITY[justified] < SEVERITY[current]:
                after[node] = justified
                proposals.append(self._proposal(node, justified, best))
        return self._ordered(start, proposals)


def carry(status: str, kind: str) -> str:
    """The status an upstream in `status` implies for a dependent over an edge of `kind`: the same status
    over a hard edge; over a soft one degraded performance when the upstream is at least degraded (planned
    maintenance of something one can do without implies nothing)."""
    if kind == HARD:
        return status
    if SEVERITY[status] >= SEVERITY[S.DEGRADED_PERFORMANCE]:
        return S.DEGRADED_PERFORMANCE
    return S.OPERATIONAL


# --- The module's entry points: each loads the page's graph (two queries) -------------------------------


def upstream(component: Component) -> list[Link]:
    """What `component` depends on, directly, in display order. One query."""
    links = (
        ComponentDependency.objects.for_page(component.page_id)
        .filter(component=component)
        .select_related("depends_on")
        .order_by("depends_on__position", "depends_on_id")
    )
    return [Link(link.depends_on, link.kind) for link in links]


def downstream(component: Component) -> list[Link]:
    """What depends on `component`, directly, in display order. One query."""
    links = (
        ComponentDependency.objects.for_page(component.page_id)
        .filter(depends_on=component)
        .select_related("component")
        .order_by("component__position", "component_id")
    )
    return [Link(link.component, link.kind) for link in links]


def blast_radius(page: Page, components: Iterable[Component]) -> list[Affected]:
    """Every transitive dependent of `components` (all of `page`), each once with its shortest path from
    the nearest start, ordered by depth then position. Two queries."""
    components = list(components)
    foreign = [c for c in components if c.page_id != page.pk]
    if foreign:
        raise ValueError(f"{foreign[0]!r} is not a component of page {page.pk}")
    if not components:
        return []
    graph = Graph.load(page)
    return graph.blast_radius(c.pk for c in components if c.pk in graph.nodes)


def propose(component: Component, new_status: str, *, old_status: str | None = None) -> list[Proposal]:
    """The status changes that `component` going to `new_status` suggests for its dependents.

    Worse: each transitive dependent gets the status its worst path implies (a hard edge passes the
    upstream's status on, a soft one degraded performance); dependents already at least that bad are left
    out, so nothing is ever proposed better than it is. Better: each dependent worse than what its
    upstreams then justify (all of them, not only this one) is proposed that, back to operational when
    nothing else holds it down; a dependent worse than the old status could have caused is down for another
    reason and left alone. Ordered by depth, then position. Two queries.

    The component's status is read from the database with the graph (the object passed may be stale);
    `old_status` overrides it, for a caller that has already written the new one.
    """
    if new_status not in S.values:
        raise ValueError(f"not a component status: {new_status!r}")
    graph = Graph.load(component.page_id)
    if component.pk not in graph.nodes:
        return []
    return graph.propose(component.pk, new_status, old_status=old_status)
