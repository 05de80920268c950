"""`onehost stack` against moto: create, update one parameter through a change set, delete.

moto applies the security group, Elastic IP, volume, IAM role and profile, bucket, log group
and topic; what it skips (alarms, filters, bucket policy, lifecycle) is checked on the template
(tests/unit/test_stack_template.py)."""

import runpy

import pytest

from onehost import stack
from onehost.cli import main
from onehost.paths import REPO_ROOT
from onehost.shell import CommandFailed

GROUP_DATA = runpy.run_path(str(REPO_ROOT / "deploy" / "group_data" / "all.py"))
NAME = "timewarp-production"
ADMIN = "203.0.113.4/32"


def deploy(aws, lines, dry=False, **given):
    given = {"Project": "timewarp", "Environment": "production", **given}
    return stack.deploy_stack(aws.client("cloudformation"), aws.client("ec2"), NAME, given, dry=dry,
                              tags={"project": "timewarp", "environment": "production"},
                              say=lines.append, poll_seconds=0.2, timeout_seconds=60)


def security_group(aws):
    """Found by its description (moto replaces the group on update, without CloudFormation's tags)."""
    [group] = aws.client("ec2").describe_security_groups(Filters=[
        {"Name": "description", "Values": [f"{NAME} host: *"]}])["SecurityGroups"]
    return group


def ingress_of(aws):
    return {(rule["FromPort"], tuple(item["CidrIp"] for item in rule["IpRanges"]))
            for rule in security_group(aws)["IpPermissions"]}


@pytest.fixture
def created(aws):
    lines = []
    outputs = deploy(aws, lines, AdminCidr=ADMIN)
    return outputs, lines


def test_create_makes_the_resources(aws, created):
    outputs, lines = created
    assert lines[0].startswith(f"stack {NAME}: creating 19 resources")
    assert any("CREATE_COMPLETE" in line for line in lines[1:])
    assert ingress_of(aws) == {(22, (ADMIN,)), (80, ("0.0.0.0/0",)), (443, ("0.0.0.0/0",))}
    ec2 = aws.client("ec2")
    [address] = ec2.describe_addresses(AllocationIds=[outputs["ElasticIpAllocationId"]])["Addresses"]
    assert address["PublicIp"] == outputs["ElasticIp"]
    [volume] = ec2.describe_volumes(VolumeIds=[outputs["DataVolumeId"]])["Volumes"]
    assert (volume["AvailabilityZone"], volume["Size"]) == (outputs["AvailabilityZone"], 10)
    assert {"Key": "environment", "Value": "production"} in volume["Tags"]  # the stack's tags reach its resources
    iam = aws.client("iam")
    profile = iam.get_instance_profile(InstanceProfileName=outputs["InstanceProfileName"])["InstanceProfile"]
    [role] = profile["Roles"]
    # No ECR repository given: no pull rights.
    assert sorted(iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]) == [
        "backups", "cloudwatch-agent", "secrets"]
    assert aws.client("s3").head_bucket(Bucket=outputs["BackupBucketName"])
    [group] = aws.client("logs").describe_log_groups(logGroupNamePrefix=outputs["LogGroupName"])["logGroups"]
    assert (group["logGroupName"], group["retentionInDays"]) == (GROUP_DATA["cloudwatch_log_group"], 7)
    assert aws.client("sns").get_topic_attributes(TopicArn=outputs["AlarmTopicArn"])
    # The role reads the app's secrets under /<project>/<environment>/.
    assert outputs["SsmPath"] == "/timewarp/production"
    # (moto hands the document back as Python's repr of it: compare text.)
    secrets = str(iam.get_role_policy(RoleName=role["RoleName"], PolicyName="secrets")["PolicyDocument"])
    assert ":parameter/timewarp/production/*" in secrets


def test_a_change_set_updates_one_parameter_and_keeps_the_others(aws, created):
    outputs, _ = created
    lines = []
    deploy(aws, lines, AdminCidr="198.51.100.7/32")
    assert lines[0].startswith(f"stack {NAME}: updating through change set onehost-")
    assert lines[-1] == f"stack {NAME}: UPDATE_COMPLETE"
    assert (22, ("198.51.100.7/32",)) in ingress_of(aws)
    parameters = {item["ParameterKey"]: item["ParameterValue"] for item in aws.client("cloudformation")
                  .describe_stacks(StackName=NAME)["Stacks"][0]["Parameters"]}
    assert parameters["AdminCidr"] == "198.51.100.7/32"
    assert parameters["AvailabilityZone"] == outputs["AvailabilityZone"]
    assert aws.client("ec2").describe_volumes(VolumeIds=[outputs["DataVolumeId"]])["Volumes"]


def test_an_ecr_repository_gives_the_role_pull_rights_on_it(aws):
    outputs = deploy(aws, [], AdminCidr=ADMIN, EcrRepository="timewarp")
    iam = aws.client("iam")
    [role] = iam.get_instance_profile(InstanceProfileName=outputs["InstanceProfileName"])["InstanceProfile"]["Roles"]
    assert "ecr-pull" in iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
    pull = str(iam.get_role_policy(RoleName=role["RoleName"], PolicyName="ecr-pull")["PolicyDocument"])
    assert ":repository/timewarp" in pull


def test_the_same_inputs_change_nothing(aws, created):
    lines = []
    deploy(aws, lines)
    assert lines[-1] == f"stack {NAME} is up to date: nothing to change"
    assert aws.client("cloudformation").list_change_sets(StackName=NAME)["Summaries"] == []


def test_dry_update_changes_nothing(aws, created):
    lines = []
    deploy(aws, lines, AdminCidr="198.51.100.7/32", dry=True)
    assert lines[-1] == "--dry: nothing changed (the change set was deleted)"
    assert (22, (ADMIN,)) in ingress_of(aws)
    assert aws.client("cloudformation").list_change_sets(StackName=NAME)["Summaries"] == []


def test_creating_without_an_admin_network_is_refused_before_anything_exists(aws):
    with pytest.raises(CommandFailed, match="does not exist yet: give --admin-cidr"):
        deploy(aws, [])
    assert stack.describe(aws.client("cloudformation"), NAME) is None


def test_delete_keeps_the_volume_address_and_bucket(aws, created):
    outputs, _ = created
    lines = []
    stack.delete_stack(aws.client("cloudformation"), NAME, say=lines.append, poll_seconds=0.2, timeout_seconds=60)
    assert lines[-1] == (f"stack {NAME}: deleted; kept (DeletionPolicy Retain): DataVolumeId "
                         f"{outputs['DataVolumeId']}, ElasticIp {outputs['ElasticIp']}, "
                         f"BackupBucketName {outputs['BackupBucketName']}")
    assert aws.client("ec2").describe_volumes(VolumeIds=[outputs["DataVolumeId"]])["Volumes"]
    assert aws.client("s3").head_bucket(Bucket=outputs["BackupBucketName"])
    described = stack.describe(aws.client("cloudformation"), NAME)
    assert described is None or described["StackStatus"] == "DELETE_COMPLETE"


def test_the_command_prints_status_and_the_group_data_settings(aws, created, capsys):
    outputs, _ = created
    assert main(["stack", "status", "--project", "timewarp"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"stack {NAME}: CREATE_COMPLETE")
    assert outputs["DataVolumeId"] in printed
    assert main(["stack", "deploy", "--project", "timewarp"]) == 0
    printed = capsys.readouterr().out
    assert f"backup_bucket = '{outputs['BackupBucketName']}'" in printed
    assert "cloudwatch_log_group = '/onehost/host'" in printed
    assert "ssm_path = '/timewarp/production/'" in printed


def test_no_credentials_is_a_clear_error(aws, monkeypatch, tmp_path, capsys):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["stack", "deploy", "--admin-cidr", ADMIN]) == 1
    assert "error: no AWS credentials" in capsys.readouterr().err
