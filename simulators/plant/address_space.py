"""The plant's OPC-UA address space: one Object per machine, one Variable per tag, as the scenario maps them.

NodeIds come from the scenario (``machines[*].opcua.nodes``, e.g. ``ns=2;s=CNC-01.SpindleTemperature``) in the
namespace ``urn:millstream:plant`` (index 2). Analog signals are ``AnalogItemType`` variables with the
``EngineeringUnits`` (EUInformation, UNECE codes) and ``EURange`` properties OPC UA Part 8 defines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asyncua import Server, ua

from millstream.masterdata import Machine
from simulators.config import SimulationError
from simulators.plant.machine import TAGS

__all__ = ["NAMESPACE_URI", "TagNode", "build_address_space", "variant_type"]

NAMESPACE_URI = "urn:millstream:plant"
_UNECE_URI = "http://www.opcfoundation.org/UA/units/un/cefact"


@dataclass(frozen=True)
class _Analog:
    unece_code: str
    symbol: str
    description: str
    low: float
    high: float


_ANALOG = {
    "spindle_temperature": _Analog("CEL", "°C", "degree Celsius", -20.0, 150.0),
    "vibration_rms": _Analog("C16", "mm/s", "millimetre per second", 0.0, 50.0),
    "motor_current": _Analog("AMP", "A", "ampere", 0.0, 200.0),
    "spindle_speed": _Analog("RPM", "r/min", "revolutions per minute", 0.0, 30000.0),
}
_VARIANT = {"good_parts": ua.VariantType.UInt32, "scrap_parts": ua.VariantType.UInt32,
            "order_good_parts": ua.VariantType.UInt32, "order_scrap_parts": ua.VariantType.UInt32,
            "state": ua.VariantType.String, "active_order": ua.VariantType.String}
_INITIAL: dict[ua.VariantType, Any] = {ua.VariantType.Double: 0.0, ua.VariantType.UInt32: 0,
                                       ua.VariantType.String: ""}


def variant_type(tag: str) -> ua.VariantType:
    return _VARIANT.get(tag, ua.VariantType.Double)


@dataclass(frozen=True)
class TagNode:
    machine_id: str
    tag: str
    node_id: ua.NodeId
    variant: ua.VariantType


def _eu_information(analog: _Analog) -> ua.EUInformation:
    return ua.EUInformation(NamespaceUri=_UNECE_URI, UnitId=int.from_bytes(analog.unece_code.encode(), "big"),
                            DisplayName=ua.LocalizedText(analog.symbol),
                            Description=ua.LocalizedText(analog.description))


def parse_tag_nodes(machine: Machine, namespace_index: int) -> list[TagNode]:
    """The machine's mapped tags as NodeIds; :class:`SimulationError` names a wrong mapping entry."""
    nodes = []
    for tag, text in machine.opcua.nodes.items():
        field = f"machines[{machine.id}].opcua.nodes.{tag}"
        if tag not in TAGS:
            msg = f"{field}: the plant simulator has no tag {tag!r} (it plays {', '.join(TAGS)})"
            raise SimulationError(msg)
        try:
            node_id = ua.NodeId.from_string(text)
        except (ValueError, ua.UaStringParsingError) as exc:
            msg = f"{field}: {text!r} is not an OPC-UA NodeId ({exc})"
            raise SimulationError(msg) from None
        if node_id.NamespaceIndex != namespace_index:
            msg = f"{field}: {text!r} must be in namespace {namespace_index} ({NAMESPACE_URI})"
            raise SimulationError(msg)
        nodes.append(TagNode(machine.id, tag, node_id, variant_type(tag)))
    return nodes


def _browse_name(node: TagNode, namespace_index: int) -> ua.QualifiedName:
    identifier = str(node.node_id.Identifier)
    name = identifier.removeprefix(f"{node.machine_id}.")
    return ua.QualifiedName(name, namespace_index)


async def _add_variable(server: Server, parent: ua.NodeId, node: TagNode, namespace_index: int) -> None:
    item = ua.AddNodesItem()
    item.RequestedNewNodeId = node.node_id
    item.BrowseName = _browse_name(node, namespace_index)
    item.NodeClass = ua.NodeClass.Variable
    item.ParentNodeId = parent
    item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasComponent)
    analog = _ANALOG.get(node.tag)
    item.TypeDefinition = ua.NodeId(ua.ObjectIds.AnalogItemType if analog else ua.ObjectIds.BaseDataVariableType)
    attrs = ua.VariableAttributes()
    attrs.DisplayName = ua.LocalizedText(item.BrowseName.Name)
    attrs.Description = ua.LocalizedText(f"{node.machine_id} {node.tag.replace('_', ' ')}")
    attrs.DataType = ua.NodeId({ua.VariantType.Double: ua.ObjectIds.Double, ua.VariantType.UInt32:
                                ua.ObjectIds.UInt32, ua.VariantType.String: ua.ObjectIds.String}[node.variant])
    attrs.Value = ua.Variant(_INITIAL[node.variant], node.variant)
    attrs.ValueRank = ua.ValueRank.Scalar
    attrs.AccessLevel = ua.AccessLevel.CurrentRead.mask
    attrs.UserAccessLevel = ua.AccessLevel.CurrentRead.mask
    attrs.MinimumSamplingInterval = 0.0
    item.NodeAttributes = attrs
    result = (await server.iserver.isession.add_nodes([item]))[0]
    result.StatusCode.check()
    if analog is not None:
        variable = server.get_node(node.node_id)
        await variable.add_property(ua.NodeId(f"{node.node_id.Identifier}.EngineeringUnits", namespace_index),
                                    ua.QualifiedName("EngineeringUnits", 0), _eu_information(analog),
                                    ua.VariantType.ExtensionObject, ua.NodeId(ua.ObjectIds.EUInformation))
        await variable.add_property(ua.NodeId(f"{node.node_id.Identifier}.EURange", namespace_index),
                                    ua.QualifiedName("EURange", 0), ua.Range(analog.low, analog.high),
                                    ua.VariantType.ExtensionObject, ua.NodeId(ua.ObjectIds.Range))


async def build_address_space(server: Server, machines: list[Machine], namespace_index: int) -> list[TagNode]:
    """Create one Object per machine under Objects with its mapped variables; returns every tag node."""
    every: list[TagNode] = []
    objects = server.nodes.objects
    for machine in machines:
        nodes = parse_tag_nodes(machine, namespace_index)
        obj = await objects.add_object(ua.NodeId(machine.id, namespace_index),
                                       ua.QualifiedName(machine.id, namespace_index))
        await obj.write_attribute(ua.AttributeIds.Description,
                                  ua.DataValue(ua.Variant(ua.LocalizedText(machine.name))))
        for node in nodes:
            await _add_variable(server, obj.nodeid, node, namespace_index)
        every += nodes
    return every
