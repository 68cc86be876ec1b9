"""Walk an OPC-UA address space: the tree a user writes a mapping from, and node resolution for sessions.

* :func:`browse_tree` lists nodes below a root (default ``Objects``) to a depth: node id, browse name,
  node class and, for variables, the data type.
* :func:`resolve_nodes` turns an endpoint's mapping (explicit NodeIds, browse paths, discovery rules) into
  concrete :class:`MappedNode` items, and reports what could not be resolved, by address and reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from asyncua import Client, Node, ua

from connectors.opcua.config import Discovery, EndpointConfig, parse_browse_path, parse_node_id, safe_name
from connectors.opcua.readings import MappedNode

__all__ = ["BrowsedNode", "Unresolved", "browse_tree", "resolve_nodes"]

OBJECTS_FOLDER = ua.NodeId(ua.Int32(ua.ObjectIds.ObjectsFolder))


@dataclass(frozen=True)
class BrowsedNode:
    depth: int
    node_id: str
    browse_name: str
    node_class: str
    data_type: str | None = None


@dataclass(frozen=True)
class Unresolved:
    """A configured address that does not lead to a variable, and why."""

    address: str
    reason: str


async def _data_type_names(client: Client, nodes: list[ua.NodeId]) -> list[str | None]:
    if not nodes:
        return []
    values = await client.read_attributes([client.get_node(n) for n in nodes], ua.AttributeIds.DataType)
    names: list[str | None] = []
    for value in values:
        type_id = value.Value.Value if value.Value is not None else None
        if not isinstance(type_id, ua.NodeId):
            names.append(None)
        elif type_id.NamespaceIndex == 0 and isinstance(type_id.Identifier, int):
            names.append(ua.ObjectIdNames.get(type_id.Identifier, type_id.to_string()))
        else:
            names.append(type_id.to_string())
    return names


async def browse_tree(client: Client, root: ua.NodeId | None = None, depth: int = 2) -> list[BrowsedNode]:
    """Depth-first listing of hierarchical children below ``root`` (itself not included)."""
    result: list[BrowsedNode] = []

    async def walk(node: Node, level: int) -> None:
        refs = await node.get_children_descriptions()
        variables = [r.NodeId for r in refs if r.NodeClass == ua.NodeClass.Variable]
        types = dict(zip([v.to_string() for v in variables], await _data_type_names(client, variables), strict=True))
        for ref in refs:
            node_id = ref.NodeId.to_string()
            result.append(BrowsedNode(level, node_id, ref.BrowseName.to_string(), ref.NodeClass.name,
                                      types.get(node_id)))
            if level < depth and ref.NodeClass in (ua.NodeClass.Object, ua.NodeClass.Variable):
                await walk(client.get_node(ref.NodeId), level + 1)

    await walk(client.get_node(root or OBJECTS_FOLDER), 1)
    return result


async def _walk(client: Client, rule: Discovery, wanted: ua.NodeId | None, node: Node, name: str,
                type_definition: ua.NodeId | None, level: int, found: list[MappedNode]) -> None:
    refs = await node.get_children_descriptions()
    variables = [r for r in refs if r.NodeClass == ua.NodeClass.Variable]
    is_machine = type_definition == wanted if wanted is not None else bool(variables)
    if is_machine:
        machine = rule.machine_id or safe_name(name, "machine")
        found.extend(MappedNode(r.NodeId.to_string(), machine, safe_name(r.BrowseName.Name, "value"))
                     for r in variables)
        if wanted is not None:
            return
    if level < rule.max_depth:
        for ref in refs:
            if ref.NodeClass == ua.NodeClass.Object:
                await _walk(client, rule, wanted, client.get_node(ref.NodeId), ref.BrowseName.Name,
                            ref.TypeDefinition, level + 1, found)


async def _discover(client: Client, endpoint: EndpointConfig) -> tuple[list[MappedNode], list[Unresolved]]:
    """Objects below each rule's root (of its type, or any object with variables) become machines."""
    found: list[MappedNode] = []
    problems: list[Unresolved] = []
    for rule in endpoint.discover:
        wanted = parse_node_id(rule.type_definition) if rule.type_definition else None
        before = len(found)
        root = client.get_node(parse_node_id(rule.root))
        try:
            await _walk(client, rule, wanted, root, (await root.read_browse_name()).Name, None, 0, found)
        except ua.UaStatusCodeError as exc:
            problems.append(Unresolved(rule.root, f"discovery failed: {ua.StatusCode(exc.code).name}"))
            continue
        if len(found) == before:
            problems.append(Unresolved(rule.root, "discovery found no variables"))
    return found, problems


async def resolve_nodes(client: Client, endpoint: EndpointConfig) -> tuple[list[MappedNode], list[Unresolved]]:
    """Concrete nodes for an endpoint's mapping; unresolvable browse paths and empty discoveries are
    reported, not raised, so the rest of the endpoint keeps running."""
    mapped: list[MappedNode] = []
    problems: list[Unresolved] = []
    by_path = [n for n in endpoint.nodes if n.browse_path is not None]
    for node in endpoint.nodes:
        if node.node_id is not None:
            mapped.append(MappedNode(parse_node_id(node.node_id).to_string(), node.machine_id, node.tag, node.unit))
    if by_path:
        paths = [[ua.QualifiedName.from_string(p) for p in parse_browse_path(str(n.browse_path))] for n in by_path]
        results = await client.nodes.root.get_children_by_path(paths, raise_on_partial_error=False)
        for node, targets in zip(by_path, results, strict=True):
            if not targets:
                problems.append(Unresolved(str(node.browse_path), "browse path not found (BadNoMatch)"))
                continue
            target = targets[0]
            assert target is not None
            mapped.append(MappedNode(target.nodeid.to_string(), node.machine_id, node.tag, node.unit))
    discovered, discovery_problems = await _discover(client, endpoint)
    return mapped + discovered, problems + discovery_problems
