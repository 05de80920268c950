"""onehost stack: the pure parts, and the states moto cannot reach (it never rolls back and
does not describe replacements), with botocore's Stubber in place of AWS."""

import argparse
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.stub import ANY, Stubber

from onehost import stack
from onehost.cli import build_parser
from onehost.shell import CommandFailed

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


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
        resource_change("BackupBucket", replacement="Conditional"), resource_change("HostSecurityGroup", replacement="True"),
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
    cfn = boto3.client("cloudformation", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    ec2 = boto3.client("ec2", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(cfn) as stubber:
        yield cfn, ec2, stubber
        stubber.assert_no_pending_responses()


def stack_description(status):
    return {"Stacks": [{"StackName": "tw-prod", "StackStatus": status, "CreationTime": NOW,
                        "Parameters": [{"ParameterKey": "AdminCidr", "ParameterValue": "203.0.113.4/32"}]}]}


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
    stubber.add_response("create_change_set", {"Id": "arn:cs", "StackId": "arn:stack"},
                         {"StackName": "tw-prod", "ChangeSetName": ANY, "ChangeSetType": "UPDATE", "TemplateBody": ANY,
                          "Parameters": ANY, "Capabilities": ["CAPABILITY_IAM"], "Tags": []})
    described = {"Status": "CREATE_COMPLETE", "ExecutionStatus": "AVAILABLE", "ChangeSetName": "cs", "StackName": "tw-prod",
                 "Changes": [resource_change("DataVolume", replacement="True")]}
    stubber.add_response("describe_change_set", described, {"StackName": "tw-prod", "ChangeSetName": ANY})
    stubber.add_response("describe_change_set", described, {"StackName": "tw-prod", "ChangeSetName": ANY})
    stubber.add_response("delete_change_set", {}, {"StackName": "tw-prod", "ChangeSetName": ANY})
    lines = []
    with pytest.raises(CommandFailed, match=r"refused: DataVolume \(the data volume\) would be replaced, and would "
                                            r"start empty. Nothing changed."):
        stack.deploy_stack(cfn, ec2, "tw-prod", {"AvailabilityZone": "eu-west-1b"}, tags={}, say=lines.append)
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
