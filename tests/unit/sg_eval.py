"""The stack's security groups, evaluated the way EC2 evaluates them.

moto cannot check this (it skips the Instance Connect Endpoint, ignores egress rules and never
changes or removes a standalone ingress rule), and AWS is out of reach here, so the template
itself is evaluated, with the parameters a deploy would give:

- a group's inbound rules are its inline SecurityGroupIngress entries plus every
  AWS::EC2::SecurityGroupIngress resource naming it; outbound likewise (SecurityGroupEgress,
  AWS::EC2::SecurityGroupEgress). Resources and rules whose Condition is false do not exist.
- a group created without inline egress rules gets EC2's allow-all outbound rule
  (CloudFormation Template Reference, AWS::EC2::SecurityGroup: "When you create a security
  group, if you do not add egress rules, we add egress rules that allow all outbound IPv4 and
  IPv6 traffic. Otherwise, we do not add them.").
- a rule's peer is a CIDR (the other side's address must be in it) or a security group (the
  other side's network interface must be a member: Amazon VPC User Guide, "Security group
  rules": with a group as the source, traffic is allowed from the network interfaces associated
  with that group, by their private addresses, not their public or Elastic IP addresses; the
  interfaces here talk over private addresses).
- a packet from A to B passes when one outbound rule of A's groups and one inbound rule of B's
  groups allow it. Groups are stateful, so replies need no rule. An address outside every group
  (somewhere on the internet) filters nothing itself.

Anything this evaluator does not model (IPv6, prefix lists, group names) is an error, never
silently ignored.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

ALL_PROTOCOLS = "-1"
PROTOCOL_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp"}


@dataclass(frozen=True)
class Interface:
    """A network interface: its IPv4 address and the security groups (logical ids) it is in."""
    name: str
    address: IPv4Address
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Rule:
    protocol: str
    from_port: int
    to_port: int
    cidr: IPv4Network | None = None
    group: str | None = None

    def covers(self, protocol: str, port: int) -> bool:
        if self.protocol == ALL_PROTOCOLS:
            return True
        return self.protocol == protocol and self.from_port <= port <= self.to_port

    def admits(self, peer: Interface) -> bool:
        if self.cidr is not None:
            return peer.address in self.cidr
        return self.group in peer.groups


def internet(address: str) -> Interface:
    """A sender or receiver somewhere on the internet: in no security group of ours."""
    return Interface(f"internet {address}", ipaddress.ip_address(address))


class StackGroups:
    """The security groups one deploy of the template creates, with `parameters` given."""

    def __init__(self, template: dict, parameters: dict[str, str]):
        self.template = template
        self.parameters = {**{key: str(body["Default"]) for key, body in template["Parameters"].items()
                              if "Default" in body}, **parameters}
        missing = sorted(set(template["Parameters"]) - set(self.parameters))
        if missing:
            raise ValueError(f"no value for the template's parameters {', '.join(missing)}")
        self.resources = {name: body for name, body in template["Resources"].items()
                          if self.condition_holds(body.get("Condition"))}
        groups = [name for name, body in self.resources.items() if body["Type"] == "AWS::EC2::SecurityGroup"]
        self.inbound: dict[str, list[Rule]] = {name: [] for name in groups}
        self.outbound: dict[str, list[Rule]] = {name: [] for name in groups}
        for name in groups:
            properties = self.resources[name]["Properties"]
            for entry in self.present(properties.get("SecurityGroupIngress", [])):
                self.inbound[name].append(self.rule(entry, "SourceSecurityGroupId"))
            inline_egress = self.present(properties.get("SecurityGroupEgress", []))
            for entry in inline_egress:
                self.outbound[name].append(self.rule(entry, "DestinationSecurityGroupId"))
            if not inline_egress:
                self.outbound[name].append(Rule(ALL_PROTOCOLS, 0, 65535, cidr=IPv4Network("0.0.0.0/0")))
        standalone = {"AWS::EC2::SecurityGroupIngress": (self.inbound, "SourceSecurityGroupId"),
                      "AWS::EC2::SecurityGroupEgress": (self.outbound, "DestinationSecurityGroupId")}
        for body in self.resources.values():
            if body["Type"] in standalone:
                rules, peer_key = standalone[body["Type"]]
                rules[self.group_of(self.resolve(body["Properties"]["GroupId"]))].append(
                    self.rule(body["Properties"], peer_key))

    # --- the template's functions -------------------------------------------------------

    def resolve(self, value):
        """A property's value: parameters substituted; a security group as ("group", logical id)."""
        if isinstance(value, dict) and len(value) == 1:
            [(function, argument)] = value.items()
            if function == "Ref":
                if argument == "AWS::NoValue":
                    return None
                if argument in self.parameters:
                    return self.parameters[argument]
                return ("resource", argument)
            if function == "Fn::GetAtt":
                name, attribute = argument
                if self.template["Resources"][name]["Type"] == "AWS::EC2::SecurityGroup" and attribute == "GroupId":
                    return ("resource", name)
                raise NotImplementedError(f"Fn::GetAtt {name}.{attribute}")
            if function == "Fn::If":
                condition, if_true, if_false = argument
                return self.resolve(if_true if self.condition_holds(condition) else if_false)
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value

    def condition_holds(self, name: str | None) -> bool:
        return True if name is None else self.evaluate(self.template["Conditions"][name])

    def evaluate(self, expression) -> bool:
        [(function, argument)] = expression.items()
        if function == "Fn::Equals":
            left, right = (self.resolve(item) for item in argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not self.evaluate(argument[0])
        if function == "Fn::And":
            return all(self.evaluate(item) for item in argument)
        if function == "Fn::Or":
            return any(self.evaluate(item) for item in argument)
        if function == "Condition":
            return self.condition_holds(argument)
        raise NotImplementedError(f"condition function {function}")

    def present(self, entries: list) -> list[dict]:
        """Inline rules whose Fn::If chose AWS::NoValue are not there."""
        return [entry for entry in (self.resolve(item) for item in entries) if entry is not None]

    def group_of(self, resolved) -> str:
        if not (isinstance(resolved, tuple) and resolved[0] == "resource"
                and self.template["Resources"][resolved[1]]["Type"] == "AWS::EC2::SecurityGroup"):
            raise NotImplementedError(f"a security group given as {resolved!r}")
        if resolved[1] not in self.resources:
            raise ValueError(f"security group {resolved[1]} is not created with these parameters")
        return resolved[1]

    def rule(self, properties: dict, peer_key: str) -> Rule:
        unmodelled = {"CidrIpv6", "SourcePrefixListId", "DestinationPrefixListId", "SourceSecurityGroupName",
                      "SourceSecurityGroupOwnerId"} & set(properties)
        if unmodelled:
            raise NotImplementedError(f"rule with {', '.join(sorted(unmodelled))}")
        protocol = str(self.resolve(properties["IpProtocol"])).lower()
        protocol = PROTOCOL_NUMBERS.get(protocol, protocol)
        from_port = int(self.resolve(properties.get("FromPort", 0)))
        to_port = int(self.resolve(properties.get("ToPort", 65535)))
        if "CidrIp" in properties:
            return Rule(protocol, from_port, to_port, cidr=IPv4Network(self.resolve(properties["CidrIp"])))
        return Rule(protocol, from_port, to_port, group=self.group_of(self.resolve(properties[peer_key])))

    # --- who is where -------------------------------------------------------------------

    def groups_named(self, values) -> frozenset[str]:
        return frozenset(self.group_of(item) for item in self.resolve(values))

    def host(self, address: str = "172.31.16.10") -> Interface:
        """An instance as `onehost hosts launch` starts it: in the group of the SecurityGroupId output."""
        [group] = self.groups_named([self.template["Outputs"]["SecurityGroupId"]["Value"]])
        return Interface("host", ipaddress.ip_address(address), frozenset([group]))

    def instance_connect_endpoint(self, address: str = "172.31.16.20") -> Interface:
        """The endpoint's network interface. With PreserveClientIp off, the host sees connections
        come from this interface (EC2 User Guide, "Security groups for EC2 Instance Connect
        Endpoint")."""
        endpoints = [body for body in self.resources.values() if body["Type"] == "AWS::EC2::InstanceConnectEndpoint"]
        if not endpoints:
            raise LookupError("the template declares no AWS::EC2::InstanceConnectEndpoint")
        [endpoint] = endpoints
        if self.resolve(endpoint["Properties"].get("PreserveClientIp", False)) not in (False, "false"):
            raise NotImplementedError("PreserveClientIp: connections would come from the client's address")
        return Interface("instance connect endpoint", ipaddress.ip_address(address),
                         self.groups_named(endpoint["Properties"]["SecurityGroupIds"]))

    # --- the question -------------------------------------------------------------------

    def allows(self, sender: Interface, receiver: Interface, port: int, protocol: str = "tcp") -> bool:
        """Can a new connection from `sender` reach `receiver` on `port`?"""
        leaves = not sender.groups or any(rule.covers(protocol, port) and rule.admits(receiver)
                                          for group in sender.groups for rule in self.outbound[group])
        enters = not receiver.groups or any(rule.covers(protocol, port) and rule.admits(sender)
                                            for group in receiver.groups for rule in self.inbound[group])
        return leaves and enters
