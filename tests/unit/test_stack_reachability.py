"""Who reaches the host on which port, by the stack's security groups as EC2 evaluates them
(tests/unit/sg_eval.py over deploy/aws/stack.yaml, with the parameters a deploy gives)."""

import ipaddress

import pytest

from tests.tools import stack_template
from tests.unit.sg_eval import Interface, StackGroups, internet

NETWORK = {"AvailabilityZone": "eu-west-1a", "VpcId": "vpc-0123", "SubnetId": "subnet-0123"}
GITHUB_RUNNERS = ["20.1.2.3", "4.5.6.7"]  # hosted runners come from changing public addresses
SSH, HTTP, HTTPS, POSTGRES = 22, 80, 443, 5432


@pytest.fixture(scope="module")
def template():
    return stack_template()


@pytest.fixture(scope="module")
def default(template):
    """A stack deployed with no AdminCidr: the default."""
    return StackGroups(template, NETWORK)


@pytest.fixture(scope="module")
def with_admin_network(template):
    return StackGroups(template, {**NETWORK, "AdminCidr": "198.51.100.7/32"})


@pytest.mark.parametrize("runner", GITHUB_RUNNERS)
def test_a_github_runner_cannot_reach_ssh(default, with_admin_network, runner):
    assert not default.allows(internet(runner), default.host(), SSH)
    assert not with_admin_network.allows(internet(runner), with_admin_network.host(), SSH)


def test_the_instance_connect_endpoint_reaches_ssh_on_the_host(default, with_admin_network):
    for groups in (default, with_admin_network):
        assert groups.allows(groups.instance_connect_endpoint(), groups.host(), SSH)


@pytest.mark.parametrize("port", [HTTP, HTTPS, POSTGRES, 3389])
def test_the_endpoint_reaches_no_other_port_on_the_host(default, port):
    assert not default.allows(default.instance_connect_endpoint(), default.host(), port)


@pytest.mark.parametrize("port", [SSH, HTTPS])
def test_the_endpoint_reaches_nothing_beyond_the_hosts_group(default, port):
    """Its outbound rules replace the allow-all rule a new group gets."""
    assert not default.allows(default.instance_connect_endpoint(), internet("20.1.2.3"), port)
    elsewhere_in_the_vpc = Interface("another address in the VPC", ipaddress.ip_address("172.31.40.4"))
    assert not default.allows(default.instance_connect_endpoint(), elsewhere_in_the_vpc, SSH)


def test_an_admin_network_reaches_ssh_directly_and_only_that_network(with_admin_network):
    host = with_admin_network.host()
    assert with_admin_network.allows(internet("198.51.100.7"), host, SSH)
    assert not with_admin_network.allows(internet("198.51.100.8"), host, SSH)


def test_without_an_admin_network_no_address_reaches_ssh(default):
    for address in ["198.51.100.7", "203.0.113.4", "172.31.16.99", *GITHUB_RUNNERS]:
        assert not default.allows(internet(address), default.host(), SSH), address


@pytest.mark.parametrize("port", [HTTP, HTTPS])
@pytest.mark.parametrize("client", [*GITHUB_RUNNERS, "198.51.100.8"])
def test_anyone_reaches_http_and_https(default, client, port):
    assert default.allows(internet(client), default.host(), port)


def test_the_host_reaches_https_and_http_out_and_nothing_else(default):
    assert default.allows(default.host(), internet("52.94.1.1"), HTTPS)
    assert default.allows(default.host(), internet("151.101.2.132"), HTTP)
    assert not default.allows(default.host(), internet("52.94.1.1"), SSH)
    assert not default.allows(default.host(), internet("52.94.1.1"), POSTGRES)


def test_nothing_reaches_postgres(default, with_admin_network):
    for groups in (default, with_admin_network):
        host = groups.host()
        senders = [internet(address) for address in [*GITHUB_RUNNERS, "198.51.100.7"]]
        senders += [groups.instance_connect_endpoint(), groups.host("172.31.16.11")]
        assert not any(groups.allows(sender, host, POSTGRES) for sender in senders)


# --- the evaluator itself, on small templates ------------------------------------------------

def group(ingress=(), egress=None):
    properties = {"GroupDescription": "g", "SecurityGroupIngress": list(ingress)}
    if egress is not None:
        properties["SecurityGroupEgress"] = list(egress)
    return {"Type": "AWS::EC2::SecurityGroup", "Properties": properties}


def tcp(port, **peer):
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, **peer}


def small(resources, conditions=None, parameters=None):
    template = {"Parameters": parameters or {}, "Conditions": conditions or {}, "Resources": resources,
                "Outputs": {"SecurityGroupId": {"Value": {"Fn::GetAtt": ["Target", "GroupId"]}}}}
    return StackGroups(template, {})


def member(name, address="10.0.0.9"):
    return Interface(name, ipaddress.ip_address(address), frozenset([name]))


def test_a_group_without_outbound_rules_may_send_anything_and_one_with_rules_only_what_they_allow():
    groups = small({"Target": group([tcp(22, CidrIp="0.0.0.0/0")]), "Open": group(),
                    "Narrow": group(egress=[tcp(443, CidrIp="0.0.0.0/0")])})
    assert groups.allows(member("Open"), groups.host(), 22)
    assert not groups.allows(member("Narrow"), groups.host(), 22)


def test_a_source_group_rule_admits_its_members_only():
    groups = small({"Target": group(), "Peer": group(), "Stranger": group(),
                    "PeerIn": {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": tcp(
                        22, GroupId={"Fn::GetAtt": ["Target", "GroupId"]},
                        SourceSecurityGroupId={"Fn::GetAtt": ["Peer", "GroupId"]})}})
    assert groups.allows(member("Peer"), groups.host(), 22)
    assert not groups.allows(member("Stranger"), groups.host(), 22)
    assert not groups.allows(internet("10.0.0.9"), groups.host(), 22)


def test_a_rule_whose_condition_is_false_does_not_exist():
    conditions = {"HasCidr": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Cidr"}, ""]}]}}
    resources = {"Target": group(), "CidrIn": {
        "Type": "AWS::EC2::SecurityGroupIngress", "Condition": "HasCidr",
        "Properties": tcp(22, GroupId={"Ref": "Target"}, CidrIp={"Ref": "Cidr"})}}
    template = {"Parameters": {"Cidr": {"Type": "String", "Default": ""}}, "Conditions": conditions,
                "Resources": resources, "Outputs": {"SecurityGroupId": {"Value": {"Ref": "Target"}}}}
    off, on = StackGroups(template, {}), StackGroups(template, {"Cidr": "192.0.2.0/24"})
    assert not off.allows(internet("192.0.2.1"), off.host(), 22)
    assert on.allows(internet("192.0.2.1"), on.host(), 22)


def test_what_the_evaluator_does_not_model_is_an_error():
    with pytest.raises(NotImplementedError, match="CidrIpv6"):
        small({"Target": group([tcp(22, CidrIpv6="::/0")])})
    with pytest.raises(LookupError, match="no AWS::EC2::InstanceConnectEndpoint"):
        small({"Target": group()}).instance_connect_endpoint()
