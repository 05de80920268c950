"""onehost stack: the pure parts, the states moto cannot reach (it never rolls back and does not
describe replacements), and the network it picks (VPC, zone, subnet) as exact EC2 requests, with
botocore's Stubber in place of AWS."""

import argparse
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import ANY, Stubber

from onehost.aws import stack
from onehost.cli import build_parser
from onehost.local.shell import CommandFailed

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def event(event_id, status, logical_id="DataVolume", reason=None, seconds=0):
    item = {"EventId": event_id, "StackId": "arn:stack", "StackName": "tw-prod", "LogicalResourceId": logical_id,
            "ResourceType": "AWS::EC2::Volume", "ResourceStatus": status, "Timestamp": NOW + timedelta(seconds=seconds)}
    if reason:
        item["ResourceStatusReason"] = reason
    return item


def resource_change(logical_id, action="Modify", replacement="False"):
    return {"Type": "Resource", "ResourceChange": {"Action": action, "LogicalResourceId": logical_id,
                                                   "ResourceType": "AWS::EC2::Volume", "Replacement": replacement}}


@pytest.mark.parametrize("text, network", [("203.0.113.4/32", "203.0.113.4/32"), ("203.0.113.4", "203.0.113.4/32"),
                                           ("10.1.2.3/16", "10.1.0.0/16")])
def test_admin_cidr_is_canonical(text, network):
    assert stack.admin_cidr(text) == network


def test_an_empty_admin_cidr_means_no_direct_ssh():
    assert stack.admin_cidr("") == ""
    assert build_parser().parse_args(["stack", "deploy", "--admin-cidr", ""]).admin_cidr == ""
    assert stack.parameter_pair("AdminCidr=") == ("AdminCidr", "")


@pytest.mark.parametrize("text, message", [("0.0.0.0/0", "whole internet"), ("me", "not an IPv4 network"),
                                           ("2001:db8::/64", "not an IPv4 network")])
def test_admin_cidr_refuses_the_internet_and_nonsense(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        stack.admin_cidr(text)


def test_the_command_line_refuses_an_open_ssh_port(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["stack", "deploy", "--admin-cidr", "0.0.0.0/0"])
    assert "opens SSH to the whole internet" in capsys.readouterr().err


def test_parameters_not_given_keep_their_previous_values():
    assert stack.stack_parameters({"AdminCidr": "198.51.100.7/32"}, {"AdminCidr", "VpcId", "Project"}) == [
        {"ParameterKey": "AdminCidr", "ParameterValue": "198.51.100.7/32"},
        {"ParameterKey": "Project", "UsePreviousValue": True},
        {"ParameterKey": "VpcId", "UsePreviousValue": True},
    ]


def test_replacing_or_removing_what_holds_data_is_named():
    changes = stack.changes_from({"Changes": [
        resource_change("DataVolume", replacement="True"), resource_change("Address", action="Remove", replacement=""),
        resource_change("BackupBucket", replacement="Conditional"),
        resource_change("HostSecurityGroup", replacement="True"),
        resource_change("DataVolume", replacement="False")]})
    assert stack.protected_replacements(changes) == [
        "DataVolume (the data volume) would be replaced", "Address (the Elastic IP) would be removed",
        "BackupBucket (the backup bucket) would be replaced"]


def test_events_are_printed_once_oldest_first_and_only_from_this_run():
    events = [event("c", "CREATE_COMPLETE", seconds=2), event("b", "CREATE_IN_PROGRESS", seconds=1),
              event("old", "UPDATE_COMPLETE", seconds=-60)]
    assert [item["EventId"] for item in stack.new_events(events, {"b"}, NOW)] == ["c"]
    assert [item["EventId"] for item in stack.new_events(events, set(), NOW)] == ["b", "c"]


@pytest.mark.parametrize("status, message", [
    ("ROLLBACK_COMPLETE", "its creation failed (DataVolume: quota exceeded) and nothing can update it"),
    ("UPDATE_IN_PROGRESS", "another change is running"),
    ("DELETE_FAILED", "is DELETE_FAILED (DataVolume: quota exceeded)"),
])
def test_states_that_take_no_change_set_are_explained(status, message):
    assert message in stack.state_problem("tw-prod", status, ["DataVolume: quota exceeded"])


@pytest.mark.parametrize("status", ["CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"])
def test_settled_states_take_a_change_set(status):
    assert stack.state_problem("tw-prod", status, []) is None


@pytest.fixture
def stubbed():
    """CloudFormation's stubber; EC2's (every answer given, every request exact) as cfn.ec2_stubber."""
    cfn = boto3.client("cloudformation", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    ec2 = boto3.client("ec2", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(cfn) as stubber, Stubber(ec2) as ec2_stubber:
        stubber.ec2 = ec2_stubber
        yield cfn, ec2, stubber
        stubber.assert_no_pending_responses()
        ec2_stubber.assert_no_pending_responses()


PREVIOUS_NETWORK = {"VpcId": "vpc-default", "AvailabilityZone": "eu-west-1a", "SubnetId": "subnet-a"}


def stack_description(status, network=PREVIOUS_NETWORK):
    parameters = {"AdminCidr": "203.0.113.4/32", **network}
    return {"Stacks": [{"StackName": "tw-prod", "StackStatus": status, "CreationTime": NOW,
                        "Parameters": [{"ParameterKey": key, "ParameterValue": value}
                                       for key, value in parameters.items()]}]}


def test_a_stack_stuck_in_rollback_complete_is_refused_with_its_reason(stubbed):
    cfn, ec2, stubber = stubbed
    stubber.add_response("describe_stacks", stack_description("ROLLBACK_COMPLETE"), {"StackName": "tw-prod"})
    stubber.add_response("describe_stack_events", {"StackEvents": [
        event("2", "CREATE_FAILED", reason="Volume limit exceeded", seconds=2), event("1", "CREATE_IN_PROGRESS")]},
        {"StackName": "tw-prod"})
    with pytest.raises(CommandFailed) as refused:
        stack.deploy_stack(cfn, ec2, "tw-prod", {"AdminCidr": "203.0.113.4/32"}, tags={}, say=lambda line: None)
    assert str(refused.value).startswith(
        "stack tw-prod is ROLLBACK_COMPLETE: its creation failed (DataVolume: Volume limit exceeded)")
    assert "`onehost stack delete`" in str(refused.value)


def test_a_change_set_that_replaces_the_data_volume_is_deleted_unexecuted(stubbed):
    cfn, ec2, stubber = stubbed
    stubber.add_response("describe_stacks", stack_description("UPDATE_COMPLETE"), {"StackName": "tw-prod"})
    stubber.ec2.add_response("describe_subnets", {"Subnets": [subnet("subnet-b", zone="eu-west-1b")]},
                             {"SubnetIds": ["subnet-b"]})
    stubber.add_response("create_change_set", {"Id": "arn:cs", "StackId": "arn:stack"},
                         {"StackName": "tw-prod", "ChangeSetName": ANY, "ChangeSetType": "UPDATE", "TemplateBody": ANY,
                          "Parameters": ANY, "Capabilities": ["CAPABILITY_IAM"], "Tags": []})
    described = {"Status": "CREATE_COMPLETE", "ExecutionStatus": "AVAILABLE", "ChangeSetName": "cs",
                 "StackName": "tw-prod", "Changes": [resource_change("DataVolume", replacement="True")]}
    stubber.add_response("describe_change_set", described, {"StackName": "tw-prod", "ChangeSetName": ANY})
    stubber.add_response("describe_change_set", described, {"StackName": "tw-prod", "ChangeSetName": ANY})
    stubber.add_response("delete_change_set", {}, {"StackName": "tw-prod", "ChangeSetName": ANY})
    lines = []
    with pytest.raises(CommandFailed, match=r"refused: DataVolume \(the data volume\) would be replaced, and would "
                                            r"start empty. Nothing changed."):
        stack.deploy_stack(cfn, ec2, "tw-prod", {"AvailabilityZone": "eu-west-1b", "SubnetId": "subnet-b"},
                           tags={}, say=lines.append)
    assert any("DataVolume" in line and "replaced" in line for line in lines)


class ZoneClient:
    """describe_availability_zones and the offerings paginator, as EC2 answers them."""

    def __init__(self, zones, offered):
        self.zones, self.offered = zones, offered
        self.meta = type("Meta", (), {"region_name": "eu-west-1"})()
        self.asked = []

    def describe_availability_zones(self, Filters):
        return {"AvailabilityZones": [{"ZoneName": zone} for zone in self.zones]}

    def get_paginator(self, name):
        client = self

        class Pages:
            def paginate(self, **request):
                client.asked.append((name, request))
                return [{"InstanceTypeOfferings": [{"Location": zone} for zone in client.offered]}]
        return Pages()


def test_the_zone_is_the_first_that_offers_t3_micro():
    ec2 = ZoneClient(["eu-west-1a", "eu-west-1b", "eu-west-1c"], ["eu-west-1c", "eu-west-1b", "eu-west-1z"])
    assert stack.zone_offering(ec2) == "eu-west-1b"
    assert ec2.asked == [("describe_instance_type_offerings", {
        "LocationType": "availability-zone", "Filters": [{"Name": "instance-type", "Values": ["t3.micro"]}]})]


def test_no_zone_offering_the_type_is_named():
    with pytest.raises(CommandFailed, match="no available zone in eu-west-1 offers t3.micro"):
        stack.zone_offering(ZoneClient(["eu-west-1a"], []))


@pytest.mark.parametrize("argument", ["--admin-cidr=0.0.0.0/0", "--parameter=AdminCidr=0.0.0.0/0"])
def test_the_whole_internet_is_refused_by_flag_and_by_parameter(argument, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["stack", "deploy", argument])
    assert "0.0.0.0/0 opens SSH to the whole internet" in capsys.readouterr().err


def test_a_parameter_admin_cidr_is_made_canonical():
    assert stack.parameter_pair("AdminCidr=203.0.113.9/24") == ("AdminCidr", "203.0.113.0/24")


def subnet(subnet_id, vpc_id="vpc-default", zone="eu-west-1a"):
    return {"SubnetId": subnet_id, "VpcId": vpc_id, "AvailabilityZone": zone}


def test_the_default_subnet_is_asked_for_by_vpc_zone_and_default_for_az():
    assert stack.default_subnet_request("vpc-default", "eu-west-1b") == {"Filters": [
        {"Name": "vpc-id", "Values": ["vpc-default"]}, {"Name": "availability-zone", "Values": ["eu-west-1b"]},
        {"Name": "default-for-az", "Values": ["true"]}]}


def test_creating_in_the_default_vpc_picks_the_default_subnet_of_the_chosen_zone(stubbed):
    _, ec2, stubber = stubbed
    stubber.ec2.add_response("describe_vpcs", {"Vpcs": [{"VpcId": "vpc-default", "IsDefault": True}]},
                             {"Filters": [{"Name": "isDefault", "Values": ["true"]}]})
    stubber.ec2.add_response("describe_availability_zones",
                             {"AvailabilityZones": [{"ZoneName": "eu-west-1a"}, {"ZoneName": "eu-west-1b"}]},
                             {"Filters": [{"Name": "state", "Values": ["available"]}]})
    stubber.ec2.add_response("describe_instance_type_offerings", {"InstanceTypeOfferings": [
        {"InstanceType": "t3.micro", "LocationType": "availability-zone", "Location": "eu-west-1b"}]},
        {"LocationType": "availability-zone", "Filters": [{"Name": "instance-type", "Values": ["t3.micro"]}]})
    stubber.ec2.add_response("describe_subnets", {"Subnets": [subnet("subnet-b", zone="eu-west-1b")]},
                             stack.default_subnet_request("vpc-default", "eu-west-1b"))
    assert stack.network_parameters(ec2, {}, {}) == {
        "VpcId": "vpc-default", "AvailabilityZone": "eu-west-1b", "SubnetId": "subnet-b"}


def test_another_vpc_needs_a_subnet_named_too(stubbed):
    _, ec2, stubber = stubbed
    stubber.ec2.add_response("describe_vpcs", {"Vpcs": [{"VpcId": "vpc-own", "IsDefault": False}]},
                             {"VpcIds": ["vpc-own"]})
    with pytest.raises(CommandFailed, match=r"^vpc-own is not the default VPC, .*: give --parameter "
                                            r"SubnetId=subnet-\.\.\. too, a subnet of vpc-own in eu-west-1c$"):
        stack.network_parameters(ec2, {"VpcId": "vpc-own", "AvailabilityZone": "eu-west-1c"}, {})


def test_a_given_subnet_decides_the_vpc_and_zone_nobody_gave(stubbed):
    _, ec2, stubber = stubbed
    stubber.ec2.add_response("describe_subnets", {"Subnets": [subnet("subnet-own", "vpc-own", "eu-west-1c")]},
                             {"SubnetIds": ["subnet-own"]})
    assert stack.network_parameters(ec2, {"SubnetId": "subnet-own"}, {}) == {
        "VpcId": "vpc-own", "AvailabilityZone": "eu-west-1c", "SubnetId": "subnet-own"}


@pytest.mark.parametrize("given, found, message", [
    ({"SubnetId": "subnet-b", "AvailabilityZone": "eu-west-1a"}, subnet("subnet-b", zone="eu-west-1b"),
     "subnet subnet-b is in eu-west-1b, not in the stack's zone eu-west-1a (where the data volume is): "
     "give --parameter SubnetId= a subnet of vpc-default in eu-west-1a"),
    ({"SubnetId": "subnet-own", "VpcId": "vpc-default"}, subnet("subnet-own", vpc_id="vpc-own"),
     "subnet subnet-own is in vpc-own, not in the stack's VPC vpc-default: give --parameter SubnetId= a subnet "
     "of vpc-default, or --parameter VpcId=vpc-own"),
])
def test_a_subnet_outside_the_stacks_zone_or_vpc_is_refused(stubbed, given, found, message):
    _, ec2, stubber = stubbed
    stubber.ec2.add_response("describe_subnets", {"Subnets": [found]}, {"SubnetIds": [given["SubnetId"]]})
    with pytest.raises(CommandFailed) as refused:
        stack.network_parameters(ec2, given, {})
    assert str(refused.value) == message


def test_an_unknown_subnet_is_named(stubbed):
    _, ec2, stubber = stubbed
    stubber.ec2.add_client_error("describe_subnets", service_error_code="InvalidSubnetID.NotFound",
                                 expected_params={"SubnetIds": ["subnet-gone"]})
    with pytest.raises(CommandFailed, match="subnet subnet-gone does not exist in eu-west-1"):
        stack.network_parameters(ec2, {"SubnetId": "subnet-gone"}, {})


def test_a_default_vpc_without_a_default_subnet_in_the_zone_says_how_to_make_one(stubbed):
    _, ec2, stubber = stubbed
    stubber.ec2.add_response("describe_vpcs", {"Vpcs": [{"VpcId": "vpc-default", "IsDefault": True}]},
                             {"VpcIds": ["vpc-default"]})
    stubber.ec2.add_response("describe_subnets", {"Subnets": []},
                             stack.default_subnet_request("vpc-default", "eu-west-1a"))
    with pytest.raises(CommandFailed, match=r"aws ec2 create-default-subnet --availability-zone eu-west-1a"):
        stack.network_parameters(ec2, {}, {"VpcId": "vpc-default", "AvailabilityZone": "eu-west-1a"})


def expect_dry_change_set(stubber, parameters):
    stubber.add_response("create_change_set", {"Id": "arn:cs", "StackId": "arn:stack"},
                         {"StackName": "tw-prod", "ChangeSetName": ANY, "ChangeSetType": "UPDATE", "TemplateBody": ANY,
                          "Parameters": parameters, "Capabilities": ["CAPABILITY_IAM"], "Tags": []})
    described = {"Status": "CREATE_COMPLETE", "ExecutionStatus": "AVAILABLE", "ChangeSetName": "cs",
                 "StackName": "tw-prod", "Changes": [resource_change("HostSecurityGroup")]}
    stubber.add_response("describe_change_set", described, {"StackName": "tw-prod", "ChangeSetName": ANY})
    stubber.add_response("describe_change_set", described, {"StackName": "tw-prod", "ChangeSetName": ANY})
    stubber.add_response("delete_change_set", {}, {"StackName": "tw-prod", "ChangeSetName": ANY})


def test_a_stack_made_before_subnets_were_a_parameter_gets_its_zones_default_subnet(stubbed):
    cfn, ec2, stubber = stubbed
    stubber.add_response("describe_stacks", stack_description(
        "UPDATE_COMPLETE", network={"VpcId": "vpc-default", "AvailabilityZone": "eu-west-1a"}),
        {"StackName": "tw-prod"})
    stubber.ec2.add_response("describe_vpcs", {"Vpcs": [{"VpcId": "vpc-default", "IsDefault": True}]},
                             {"VpcIds": ["vpc-default"]})
    stubber.ec2.add_response("describe_subnets", {"Subnets": [subnet("subnet-a")]},
                             stack.default_subnet_request("vpc-default", "eu-west-1a"))
    expect_dry_change_set(stubber, [{"ParameterKey": "SubnetId", "ParameterValue": "subnet-a"},
                                    {"ParameterKey": "AdminCidr", "UsePreviousValue": True},
                                    {"ParameterKey": "AvailabilityZone", "UsePreviousValue": True},
                                    {"ParameterKey": "VpcId", "UsePreviousValue": True}])
    stack.deploy_stack(cfn, ec2, "tw-prod", {}, tags={}, dry=True, say=lambda line: None)


def test_dropping_direct_ssh_keeps_the_network_and_asks_ec2_nothing(stubbed):
    cfn, ec2, stubber = stubbed
    stubber.add_response("describe_stacks", stack_description("UPDATE_COMPLETE"), {"StackName": "tw-prod"})
    expect_dry_change_set(stubber, [{"ParameterKey": "AdminCidr", "ParameterValue": ""},
                                    {"ParameterKey": "AvailabilityZone", "UsePreviousValue": True},
                                    {"ParameterKey": "SubnetId", "UsePreviousValue": True},
                                    {"ParameterKey": "VpcId", "UsePreviousValue": True}])
    stack.deploy_stack(cfn, ec2, "tw-prod", {"AdminCidr": ""}, tags={}, dry=True, say=lambda line: None)


def test_the_access_lines_name_the_endpoint_and_the_policy_to_attach():
    policy = "arn:aws:iam::123456789012:policy/tw-prod-DeployAccessPolicy-X"
    assert stack.access_lines({"InstanceConnectEndpointId": "eice-0123", "DeployAccessPolicyArn": policy}) == [
        "SSH goes through EC2 Instance Connect Endpoint eice-0123 (aws ec2-instance-connect open-tunnel, AWS CLI v2)",
        "attach to your operator user/role and the CI deploy role:",
        "  arn:aws:iam::123456789012:policy/tw-prod-DeployAccessPolicy-X"]
    assert stack.access_lines({}) == []


def test_the_ecr_lifecycle_policy_keeps_the_newest_images_tagged_or_not():
    assert stack.ecr_lifecycle_policy(30) == (
        '{"rules":[{"rulePriority":1,"description":"keep the newest 30 images (onehost stack EcrKeepImages)",'
        '"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":30},'
        '"action":{"type":"expire"}}]}')


@pytest.fixture
def ecr_stubbed():
    ecr = boto3.client("ecr", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(ecr) as stubber:
        yield ecr, stubber
        stubber.assert_no_pending_responses()


def test_the_repository_gets_the_policy_once_and_a_second_deploy_changes_nothing(ecr_stubbed):
    ecr, stubber = ecr_stubbed
    outputs = {"EcrRepository": "timewarp", "EcrKeepImages": "12"}
    stubber.add_client_error("get_lifecycle_policy", "LifecyclePolicyNotFoundException",
                             expected_params={"repositoryName": "timewarp"})
    stubber.add_response("put_lifecycle_policy", {}, {"repositoryName": "timewarp",
                                                      "lifecyclePolicyText": stack.ecr_lifecycle_policy(12)})
    lines = []
    assert stack.apply_ecr_lifecycle(ecr, outputs, say=lines.append) == "timewarp"
    stubber.add_response("get_lifecycle_policy", {"lifecyclePolicyText": stack.ecr_lifecycle_policy(12)},
                         {"repositoryName": "timewarp"})
    stack.apply_ecr_lifecycle(ecr, outputs, say=lines.append)
    assert lines == ["ECR repository timewarp: keeps the newest 12 images; older ones expire (lifecycle policy set)",
                     "ECR repository timewarp: keeps the newest 12 images (unchanged)"]


def test_no_repository_in_the_stack_asks_ecr_nothing(ecr_stubbed):
    ecr, _ = ecr_stubbed
    assert stack.apply_ecr_lifecycle(ecr, {"BackupBucketName": "b"}, say=lambda line: None) is None


def test_a_repository_that_does_not_exist_says_how_to_make_it(ecr_stubbed):
    ecr, stubber = ecr_stubbed
    stubber.add_client_error("get_lifecycle_policy", "RepositoryNotFoundException",
                             expected_params={"repositoryName": "timewrap"})
    with pytest.raises(CommandFailed, match="ECR repository timewrap does not exist in eu-west-1: create it "
                                            r"\(aws ecr create-repository --repository-name timewrap\)"):
        stack.apply_ecr_lifecycle(ecr, {"EcrRepository": "timewrap", "EcrKeepImages": "30"}, say=lambda line: None)
