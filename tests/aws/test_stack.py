"""`onehost stack` against moto: create, update one parameter through a change set, delete.

moto applies the security groups and their ingress rules, Elastic IP, volume, IAM role, profile
and managed policy, bucket, log group and topic; what it skips (alarms, filters, bucket policy,
lifecycle, the Instance Connect Endpoint, security group egress rules) is checked on the template
(tests/unit/test_stack_template.py, tests/unit/test_stack_reachability.py).

moto skips AWS::EC2::InstanceConnectEndpoint with a warning, and a Ref to it resolves to nothing:
the InstanceConnectEndpointId output is left out, and the deploy policy's endpoint ARN (a !Sub
of that Ref) keeps its `${InstanceConnectEndpoint}` unresolved. The stack still completes.
moto adds a standalone AWS::EC2::SecurityGroupIngress when its condition turns true, but neither
changes nor removes one on update: what a changed AdminCidr opens is evaluated on the template."""

import runpy

import pytest

from onehost.aws import stack
from onehost.cli import main
from onehost.local.shell import CommandFailed
from onehost.paths import REPO_ROOT

GROUP_DATA = runpy.run_path(str(REPO_ROOT / "deploy" / "group_data" / "all.py"))
NAME = "timewarp-production"
ADMIN = "203.0.113.4/32"


def deploy(aws, lines, dry=False, **given):
    given = {"Project": "timewarp", "Environment": "production", **given}
    return stack.deploy_stack(aws.client("cloudformation"), aws.client("ec2"), NAME, given, dry=dry,
                              tags={"project": "timewarp", "environment": "production"},
                              say=lines.append, poll_seconds=0.2, timeout_seconds=60)


def security_group(aws, role="host"):
    """Found by its description (moto replaces the group on update, without CloudFormation's tags)."""
    prefix = {"host": f"{NAME} host: *", "endpoint": f"{NAME} EC2 Instance Connect Endpoint: *"}[role]
    [group] = aws.client("ec2").describe_security_groups(Filters=[
        {"Name": "description", "Values": [prefix]}])["SecurityGroups"]
    return group


def ingress_of(aws):
    """(port, source) of the host group's inbound rules; a source group by its role."""
    roles = {security_group(aws, role)["GroupId"]: role for role in ("host", "endpoint")}
    return {(rule["FromPort"], source) for rule in security_group(aws)["IpPermissions"]
            for source in [*(item["CidrIp"] for item in rule["IpRanges"]),
                           *(f"group:{roles[pair['GroupId']]}" for pair in rule["UserIdGroupPairs"])]}


def stack_parameters(aws):
    return {item["ParameterKey"]: item["ParameterValue"] for item in aws.client("cloudformation")
            .describe_stacks(StackName=NAME)["Stacks"][0]["Parameters"]}


@pytest.fixture
def created(aws):
    lines = []
    outputs = deploy(aws, lines, AdminCidr=ADMIN)
    return outputs, lines


def test_create_makes_the_resources(aws, created):
    outputs, lines = created
    assert lines[0].startswith(f"stack {NAME}: creating 27 resources")
    assert any("CREATE_COMPLETE" in line for line in lines[1:])
    assert ingress_of(aws) == {(22, "group:endpoint"), (22, ADMIN), (80, "0.0.0.0/0"), (443, "0.0.0.0/0")}
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
        "backups", "cloudwatch-agent"]
    assert aws.client("s3").head_bucket(Bucket=outputs["BackupBucketName"])
    [group] = aws.client("logs").describe_log_groups(logGroupNamePrefix=outputs["LogGroupName"])["logGroups"]
    assert (group["logGroupName"], group["retentionInDays"]) == (GROUP_DATA["cloudwatch_log_group"], 7)
    assert aws.client("sns").get_topic_attributes(TopicArn=outputs["AlarmTopicArn"])
    # The deployer (not the host) reads the app's secrets under /<project>/<environment>/.
    assert outputs["SsmPath"] == "/timewarp/production"


def test_a_change_set_updates_one_parameter_and_keeps_the_others(aws, created):
    outputs, _ = created
    lines = []
    deploy(aws, lines, AdminCidr="198.51.100.7/32")
    assert lines[0].startswith(f"stack {NAME}: updating through change set onehost-")
    assert lines[-1] == f"stack {NAME}: UPDATE_COMPLETE"
    parameters = stack_parameters(aws)
    assert parameters["AdminCidr"] == "198.51.100.7/32"
    assert parameters["AvailabilityZone"] == outputs["AvailabilityZone"]
    assert parameters["SubnetId"] == outputs["SubnetId"]
    assert aws.client("ec2").describe_volumes(VolumeIds=[outputs["DataVolumeId"]])["Volumes"]


def test_an_ecr_repository_gives_the_role_pull_rights_on_it(aws):
    outputs = deploy(aws, [], AdminCidr=ADMIN, EcrRepository="timewarp")
    iam = aws.client("iam")
    [role] = iam.get_instance_profile(InstanceProfileName=outputs["InstanceProfileName"])["InstanceProfile"]["Roles"]
    assert "ecr-pull" in iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
    pull = str(iam.get_role_policy(RoleName=role["RoleName"], PolicyName="ecr-pull")["PolicyDocument"])
    assert ":repository/timewarp" in pull


def test_the_given_ecr_repository_keeps_its_newest_images(aws, capsys):
    """CloudFormation cannot put a lifecycle policy on a repository it does not own: the deploy
    command does, after the stack, with the stack's EcrKeepImages."""
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="timewarp")
    assert main(["stack", "deploy", "--project", "timewarp", "--parameter", "EcrRepository=timewarp",
                 "--parameter", "EcrKeepImages=12"]) == 0
    assert "ECR repository timewarp: keeps the newest 12 images; older ones expire" in capsys.readouterr().out
    policy = ecr.get_lifecycle_policy(repositoryName="timewarp")["lifecyclePolicyText"]
    assert policy == stack.ecr_lifecycle_policy(12)
    # The next deploy, with the stack's values kept, finds it in place.
    assert main(["stack", "deploy", "--project", "timewarp"]) == 0
    assert "ECR repository timewarp: keeps the newest 12 images (unchanged)" in capsys.readouterr().out


def test_a_stack_without_a_repository_leaves_ecr_alone(aws, created, capsys):
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="timewarp")
    assert main(["stack", "deploy", "--project", "timewarp"]) == 0
    assert "ECR repository" not in capsys.readouterr().out
    with pytest.raises(ecr.exceptions.LifecyclePolicyNotFoundException):
        ecr.get_lifecycle_policy(repositoryName="timewarp")


def test_the_same_inputs_change_nothing(aws, created):
    lines = []
    deploy(aws, lines)
    assert lines[-1] == f"stack {NAME} is up to date: nothing to change"
    assert aws.client("cloudformation").list_change_sets(StackName=NAME)["Summaries"] == []


def test_dry_update_changes_nothing(aws, created):
    lines = []
    deploy(aws, lines, AdminCidr="198.51.100.7/32", dry=True)
    assert lines[-1] == "--dry: nothing changed (the change set was deleted)"
    assert (22, ADMIN) in ingress_of(aws)
    assert aws.client("cloudformation").list_change_sets(StackName=NAME)["Summaries"] == []


def test_by_default_ssh_comes_only_from_the_endpoints_group(aws):
    outputs = deploy(aws, [])
    assert ingress_of(aws) == {(22, "group:endpoint"), (80, "0.0.0.0/0"), (443, "0.0.0.0/0")}
    # The endpoint and the hosts share the default subnet of the data volume's zone.
    [subnet] = aws.client("ec2").describe_subnets(SubnetIds=[outputs["SubnetId"]])["Subnets"]
    assert (subnet["AvailabilityZone"], subnet["DefaultForAz"]) == (outputs["AvailabilityZone"], True)
    assert security_group(aws, "endpoint")["VpcId"] == subnet["VpcId"] == security_group(aws)["VpcId"]
    # moto skips the endpoint, so the output that names it is missing there; on AWS it is the id.
    assert outputs.get("InstanceConnectEndpointId", "eice-").startswith("eice-")


def test_the_deploy_access_policy_opens_ssh_tunnels_through_the_endpoint_only(aws):
    outputs = deploy(aws, [])
    iam = aws.client("iam")
    policy = iam.get_policy(PolicyArn=outputs["DeployAccessPolicyArn"])["Policy"]
    document = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])[
        "PolicyVersion"]["Document"]
    tunnel, describe, read, _ = document["Statement"]
    assert tunnel["Action"] == "ec2-instance-connect:OpenTunnel"
    assert ":instance-connect-endpoint/" in tunnel["Resource"]
    assert tunnel["Condition"] == {"NumericEquals": {"ec2-instance-connect:remotePort": "22"},
                                   "NumericLessThanEquals": {"ec2-instance-connect:maxTunnelDuration": "3600"}}
    assert describe["Action"] == ["ec2:DescribeInstances", "ec2:DescribeInstanceConnectEndpoints"]
    assert read["Resource"][1].endswith(":parameter/timewarp/production/*")


def test_direct_ssh_can_be_added_later_and_dropped_again(aws):
    deploy(aws, [])
    deploy(aws, [], AdminCidr="198.51.100.7/32")
    assert (22, "198.51.100.7/32") in ingress_of(aws)
    deploy(aws, [], AdminCidr="")
    # (moto keeps the removed rule; the template's rule goes with the condition.)
    assert stack_parameters(aws)["AdminCidr"] == ""


def test_a_subnet_of_another_vpc_places_the_stack_there(aws):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24", AvailabilityZone="eu-west-1c")["Subnet"]["SubnetId"]
    outputs = deploy(aws, [], SubnetId=subnet)
    assert (outputs["SubnetId"], outputs["AvailabilityZone"]) == (subnet, "eu-west-1c")
    assert security_group(aws)["VpcId"] == security_group(aws, "endpoint")["VpcId"] == vpc


def test_another_vpc_without_a_subnet_is_refused_before_anything_exists(aws):
    vpc = aws.client("ec2").create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    with pytest.raises(CommandFailed, match=f"{vpc} is not the default VPC.*give --parameter SubnetId="):
        deploy(aws, [], VpcId=vpc)
    assert stack.describe(aws.client("cloudformation"), NAME) is None


def test_a_subnet_outside_the_given_zone_is_refused_before_anything_exists(aws):
    ec2 = aws.client("ec2")
    [elsewhere] = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]},
                                                {"Name": "availability-zone", "Values": ["eu-west-1c"]}])["Subnets"]
    with pytest.raises(CommandFailed, match=f"subnet {elsewhere['SubnetId']} is in eu-west-1c, not in the "
                                            "stack's zone eu-west-1a"):
        deploy(aws, [], AvailabilityZone="eu-west-1a", SubnetId=elsewhere["SubnetId"])
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
    assert ("reaching the hosts:\n  attach to your operator user/role and the CI deploy role:\n"
            f"    {outputs['DeployAccessPolicyArn']}\n") in printed


def test_no_credentials_is_a_clear_error(aws, monkeypatch, tmp_path, capsys):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["stack", "deploy", "--admin-cidr", ADMIN]) == 1
    assert "error: no AWS credentials" in capsys.readouterr().err
