"""The stack's template: what it declares (moto skips alarms, metric filters, bucket policies and
the Instance Connect Endpoint, and ignores lifecycle, encryption and public access blocks, so
these are checked here), cfn-lint and checkov clean, and in step with the host's settings. Who
reaches the host is evaluated in tests/unit/test_stack_reachability.py."""

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from onehost.aws import backups
from onehost.aws.stack import PROTECTED, TEMPLATE
from onehost.commands import backup_bucket
from onehost.paths import REPO_ROOT
from tests.tools import installed_tool, stack_template
from tests.unit.iam_eval import allowed, resolve
from tests.unit.test_cloudwatch_log_filters import NGINX_200, NGINX_429, NGINX_500, NGINX_504, metric_filter_terms

GROUP_DATA = runpy.run_path(str(REPO_ROOT / "deploy" / "group_data" / "all.py"))
CHECKOV = Path(sys.executable).parent.parent / "tools" / "checkov" / "bin" / "checkov"


@pytest.fixture(scope="module")
def template():
    return stack_template()


def resources_of(template, kind):
    return {name: body for name, body in template["Resources"].items() if body["Type"] == kind}


def test_cfn_lint_is_clean():
    result = subprocess.run([installed_tool("cfn-lint"), str(TEMPLATE)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_is_clean_and_every_skip_says_why(template):
    if not CHECKOV.exists():
        pytest.fail(f"checkov is not installed at {CHECKOV}: run `make bootstrap`")
    result = subprocess.run([str(CHECKOV), "--file", str(TEMPLATE), "--framework", "cloudformation",
                             "--skip-download", "--compact", "--quiet"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    skips = [skip for body in template["Resources"].values()
             for skip in body.get("Metadata", {}).get("checkov", {}).get("skip", [])]
    assert skips and all(len(skip["comment"]) > 20 for skip in skips)


def test_the_admin_network_is_optional_and_never_the_whole_internet(template):
    parameter = template["Parameters"]["AdminCidr"]
    assert parameter["Default"] == ""
    matches = {text: bool(re.fullmatch(parameter["AllowedPattern"], text))
               for text in ["", "198.51.100.7/32", "10.0.0.0/8", "0.0.0.0/0", "198.51.100.7", "me"]}
    assert matches == {"": True, "198.51.100.7/32": True, "10.0.0.0/8": True, "0.0.0.0/0": False,
                       "198.51.100.7": False, "me": False}
    assert template["Resources"]["HostSshFromAdminNetwork"]["Condition"] == "HasAdminCidr"


def test_the_endpoint_is_in_the_stacks_subnet_and_shows_its_interface_as_the_source(template):
    endpoint = template["Resources"]["InstanceConnectEndpoint"]["Properties"]
    assert endpoint["SubnetId"] == {"Ref": "SubnetId"}
    assert endpoint["SecurityGroupIds"] == [{"Fn::GetAtt": ["EndpointSecurityGroup", "GroupId"]}]
    assert endpoint["PreserveClientIp"] is False
    assert template["Parameters"]["SubnetId"]["Type"] == "AWS::EC2::Subnet::Id"
    outputs = template["Outputs"]
    assert outputs["SubnetId"]["Value"] == {"Ref": "SubnetId"}
    assert outputs["InstanceConnectEndpointId"]["Value"] == {"Ref": "InstanceConnectEndpoint"}
    assert outputs["DeployAccessPolicyArn"]["Value"] == {"Ref": "DeployAccessPolicy"}


def test_the_deploy_access_policy_opens_ssh_tunnels_through_this_endpoint_and_reads_the_app_secrets(template):
    policy = template["Resources"]["DeployAccessPolicy"]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    assert not {"Roles", "Users", "Groups", "ManagedPolicyName"} & set(policy["Properties"])  # attached by hand
    tunnel, find, read, decrypt = policy["Properties"]["PolicyDocument"]["Statement"]
    assert (tunnel["Effect"], tunnel["Action"]) == ("Allow", "ec2-instance-connect:OpenTunnel")
    assert tunnel["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:"
                                             "instance-connect-endpoint/${InstanceConnectEndpoint}"}
    assert tunnel["Condition"] == {"NumericEquals": {"ec2-instance-connect:remotePort": "22"},
                                   "NumericLessThanEquals": {"ec2-instance-connect:maxTunnelDuration": "3600"}}
    assert find == {"Sid": "FindTheInstanceAndEndpoint", "Effect": "Allow", "Resource": "*",
                    "Action": ["ec2:DescribeInstances", "ec2:DescribeInstanceConnectEndpoints"]}
    # The deploy reads the secrets on the deploying machine (--data ssm_path): under SsmPath only,
    # decrypted only through SSM.
    assert read["Action"] == ["ssm:GetParametersByPath", "ssm:GetParameters", "ssm:GetParameter"]
    assert [item["Fn::Sub"].rsplit(":", 1)[1] for item in read["Resource"]] == [
        "parameter${SsmPath}", "parameter${SsmPath}/*"]
    assert decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}}}


def test_what_holds_data_or_the_address_outlives_the_stack(template):
    for name in PROTECTED:
        assert template["Resources"][name]["DeletionPolicy"] == "Retain", name
        assert template["Resources"][name]["UpdateReplacePolicy"] == "Retain", name
    volume = template["Resources"]["DataVolume"]["Properties"]
    assert (volume["VolumeType"], volume["Encrypted"]) == ("gp3", True)


def test_backup_bucket_is_private_encrypted_versioned_tls_only_with_the_backup_lifecycle(template):
    bucket = template["Resources"]["BackupBucket"]["Properties"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    [rule] = bucket["LifecycleConfiguration"]["Rules"]
    [expected] = backup_bucket.lifecycle_rules("backups/", 30)["Rules"]
    assert rule["Id"] == expected["ID"] and rule["Status"] == "Enabled"
    assert template["Parameters"]["BackupPrefix"]["Default"] == GROUP_DATA["backup_prefix"]
    noncurrent_days = expected["NoncurrentVersionExpiration"]["NoncurrentDays"]
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == noncurrent_days
    assert rule["AbortIncompleteMultipartUpload"] == expected["AbortIncompleteMultipartUpload"]
    assert rule["ExpirationInDays"] == {"Ref": "BackupRetentionDays"}
    # Expiration and lock count the same days from the upload: the rule never tries a locked
    # dump, and the dump's last version goes one day after it was hidden.
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    [statement] = template["Resources"]["BackupBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_bucket_locks_every_dump_for_the_retention_days(template):
    bucket = template["Resources"]["BackupBucket"]["Properties"]
    assert bucket["ObjectLockEnabled"] is True
    # The same retention `onehost backups lifecycle` puts on a bucket made without the stack.
    expected = backup_bucket.retention_configuration(30, "GOVERNANCE")
    expected["Rule"]["DefaultRetention"] = {"Mode": {"Ref": "BackupLockMode"}, "Days": {"Ref": "BackupRetentionDays"}}
    assert bucket["ObjectLockConfiguration"] == expected
    assert template["Parameters"]["BackupLockMode"]["Default"] == "GOVERNANCE"
    assert template["Parameters"]["BackupLockMode"]["AllowedValues"] == list(backup_bucket.LOCK_MODES)
    assert template["Parameters"]["BackupRetentionDays"]["Default"] == 30


NAMES = {"BackupBucket.Arn": "arn:aws:s3:::timewarp-backups", "BackupPrefix": "backups/",
         "BackupBucket": "timewarp-backups", "MetricNamespace": "onehost", "LogGroupName": "/onehost/host",
         "EcrRepository": "timewarp", "AWS::Partition": "aws", "AWS::Region": "eu-west-1",
         "AWS::AccountId": "123456789012"}
BUCKET = NAMES["BackupBucket.Arn"]
DUMP = f"{BUCKET}/backups/timewarp-20261125T030405Z.dump"


def host_role_statements(template) -> list[dict]:
    role = template["Resources"]["HostRole"]["Properties"]
    ecr = template["Resources"]["EcrPullPolicy"]["Properties"]
    return [resolve(statement, NAMES) for policy in [*role["Policies"], ecr]
            for statement in policy["PolicyDocument"]["Statement"]]


def test_the_policy_evaluator_follows_iams_rules():
    statements = [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"},
                  {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/secret"},
                  {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*",
                   "Condition": {"Null": {"s3:if-none-match": "false"}}}]
    assert allowed(statements, "S3:GETOBJECT", "arn:aws:s3:::b/x")          # actions ignore case
    assert not allowed(statements, "s3:GetObject", "arn:aws:s3:::b/secret")  # an explicit Deny wins
    assert not allowed(statements, "s3:GetObject", "arn:aws:s3:::other/x")   # no match: implicit deny
    assert allowed(statements, "s3:PutObject", "arn:aws:s3:::b/x", {"s3:if-none-match": "*"})
    assert not allowed(statements, "s3:PutObject", "arn:aws:s3:::b/x")      # the key is absent
    with pytest.raises(ValueError, match="NumericEquals is not modelled"):
        allowed([{**statements[0], "Condition": {"NumericEquals": {"k": "1"}}}], "s3:GetObject",
                "arn:aws:s3:::b/x", {"k": "1"})


def test_the_host_role_can_add_dumps_but_never_replace_or_remove_one(template):
    statements = host_role_statements(template)
    # A new dump: PutObject, or CompleteMultipartUpload (authorized as s3:PutObject), with
    # If-None-Match; the multipart steps before it carry no condition header.
    new_object = {"s3:if-none-match": "*", "s3:ObjectCreationOperation": "true"}
    assert allowed(statements, "s3:PutObject", DUMP, new_object)
    assert allowed(statements, "s3:PutObject", DUMP, {"s3:ObjectCreationOperation": "false"})  # UploadPart
    assert allowed(statements, "s3:GetObject", DUMP)
    assert allowed(statements, "s3:ListBucket", BUCKET, {"s3:prefix": "backups/"})
    # Writing over a dump without the condition, or outside the prefix: refused.
    assert not allowed(statements, "s3:PutObject", DUMP, {"s3:ObjectCreationOperation": "true"})
    assert not allowed(statements, "s3:PutObject", f"{BUCKET}/elsewhere/x", new_object)
    for action, resource in [("s3:DeleteObject", DUMP), ("s3:DeleteObjectVersion", DUMP),
                             ("s3:PutObjectRetention", DUMP), ("s3:BypassGovernanceRetention", DUMP),
                             ("s3:PutObjectLegalHold", DUMP), ("s3:DeleteBucket", BUCKET),
                             ("s3:PutBucketPolicy", BUCKET), ("s3:PutBucketVersioning", BUCKET),
                             ("s3:PutBucketObjectLockConfiguration", BUCKET),
                             ("s3:PutLifecycleConfiguration", BUCKET)]:
        assert not allowed(statements, action, resource, new_object), action
    # And nothing in the role names such an action, wildcard or not.
    s3_actions = {action for statement in statements for action in
                  (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
                  if action.startswith("s3:")}
    assert s3_actions == {"s3:PutObject", "s3:PutObjectTagging", "s3:GetObject", "s3:GetObjectTagging",
                          "s3:AbortMultipartUpload", "s3:ListBucket"}


def test_log_group_and_namespace_match_the_agent_config(template):
    assert template["Parameters"]["LogGroupName"]["Default"] == GROUP_DATA["cloudwatch_log_group"]
    assert template["Parameters"]["MetricNamespace"]["Default"] == GROUP_DATA["cloudwatch_namespace"]
    assert template["Parameters"]["DataVolumeFstype"]["Default"] == GROUP_DATA["data_volume_fstype"]
    assert template["Resources"]["LogGroup"]["Properties"]["RetentionInDays"] == \
        GROUP_DATA["cloudwatch_log_retention_days"] == 7


def test_alarms_cover_cpu_disks_5xx_database_and_backups(template):
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")
    watched = {(body["Properties"]["MetricName"],
                tuple(sorted((item["Name"], str(item["Value"])) for item in body["Properties"].get("Dimensions", []))))
               for body in alarms.values()}
    assert ("cpu_usage_active", (("cpu", "cpu-total"),)) in watched
    disks = {dict(dimensions).get("path") for name, dimensions in watched if name == "disk_used_percent"}
    assert disks == set(GROUP_DATA["cloudwatch_disks"])
    assert {"EdgeServerErrors", "DatabaseConnectionFailures", "BackupSucceeded"} <= {name for name, _ in watched}
    assert template["Parameters"]["CpuThresholdPercent"]["Default"] == 80
    assert template["Parameters"]["DiskUsedThresholdPercent"]["Default"] == 80
    backup = alarms["BackupMissingAlarm"]["Properties"]
    expected = backups.heartbeat_alarm("h")
    for key in ("MetricName", "Statistic", "Period", "EvaluationPeriods", "ComparisonOperator", "TreatMissingData"):
        assert backup[key] == expected[key], key
    assert all(body["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for body in alarms.values())
    filters = {body["Properties"]["MetricTransformations"][0]["MetricName"]
               for body in resources_of(template, "AWS::Logs::MetricFilter").values()}
    assert filters == {"EdgeServerErrors", "DatabaseConnectionFailures", "CertificateRenewalFailures"}


def test_certificate_alarms_count_failed_renewals_and_warn_before_expiry(template):
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")
    renewal = alarms["CertificateRenewalAlarm"]["Properties"]
    assert (renewal["MetricName"], renewal["Statistic"], renewal["Threshold"], renewal["ComparisonOperator"]) == (
        "CertificateRenewalFailures", "Sum", 1, "GreaterThanOrEqualToThreshold")
    assert renewal["TreatMissingData"] == "notBreaching"
    expiry = alarms["CertificateExpiryAlarm"]["Properties"]
    # The heartbeat's dimension, which the metric script takes from the backup settings.
    assert expiry["Dimensions"] == alarms["BackupMissingAlarm"]["Properties"]["Dimensions"]
    assert (expiry["MetricName"], expiry["Statistic"], expiry["ComparisonOperator"]) == (
        "CertificateDaysToExpiry", "Minimum", "LessThanThreshold")
    assert expiry["Threshold"] == {"Ref": "CertificateExpiryThresholdDays"}
    assert template["Parameters"]["CertificateExpiryThresholdDays"]["Default"] == 14
    # Published twice a day: a day's window always holds a point while the timer runs, and a
    # host without TLS (no point at all) stays INSUFFICIENT_DATA instead of alarming.
    assert (expiry["Period"], expiry["EvaluationPeriods"], expiry["TreatMissingData"]) == (86400, 1, "missing")


def test_the_alarms_stay_within_cloudwatchs_free_ten(template):
    count = len(resources_of(template, "AWS::CloudWatch::Alarm"))
    assert count <= 10
    # The cost table (docs/explanation/costs.md) says how many there are.
    assert f"{count} alarms" in (REPO_ROOT / "docs" / "explanation" / "costs.md").read_text()


def test_host_role_is_limited_to_its_bucket_log_group_namespace_parameters_and_repository(template):
    declared = template["Resources"]["HostRole"]["Properties"]["Policies"]
    ecr = template["Resources"]["EcrPullPolicy"]
    # The ECR policy exists only with an EcrRepository.
    assert ecr["Condition"] == "HasEcrRepository" and ecr["Properties"]["Roles"] == [{"Ref": "HostRole"}]
    policies = {policy["PolicyName"]: policy["PolicyDocument"]["Statement"]
                for policy in [*declared, ecr["Properties"]]}
    assert set(policies) == {"backups", "cloudwatch-agent", "ecr-pull"}
    # The host never reads the app's secrets (the deploy writes them into app.env): no SSM, no KMS.
    actions = [action for statements in policies.values() for statement in statements
               for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])]
    assert not [action for action in actions if action.startswith(("ssm:", "kms:"))], actions
    assert "ManagedPolicyArns" not in template["Resources"]["HostRole"]["Properties"]
    unrestrictable = {"cloudwatch:PutMetricData", "ecr:GetAuthorizationToken"}
    for statements in policies.values():
        for statement in statements:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in action for action in actions), statement
            if statement["Resource"] == "*":
                assert len(actions) == 1 and actions[0] in unrestrictable, statement


def test_the_5xx_filter_counts_nginxs_5xx_lines_and_no_other(template):
    """The filter's terms against lines nginx wrote (as Docker's json-file stores them). That nginx
    writes the word on a real 5xx:
    tests/host/test_edge.py::test_app_unreachable_is_a_json_502_with_the_headers."""
    pattern = template["Resources"]["ServerErrorsFilter"]["Properties"]["FilterPattern"]
    assert pattern == '"server_error"'
    terms = metric_filter_terms()["ServerErrorsFilter"]
    lines = {"500": NGINX_500, "504": NGINX_504, "200": NGINX_200, "429": NGINX_429}
    assert {status: all(term in line for term in terms) for status, line in lines.items()} == {
        "500": True, "504": True, "200": False, "429": False}


def test_the_ecr_repository_and_how_many_images_it_keeps_are_outputs_for_the_lifecycle_policy(template):
    outputs = template["Outputs"]
    assert outputs["EcrRepository"] == {"Condition": "HasEcrRepository", "Value": {"Ref": "EcrRepository"}}
    assert outputs["EcrKeepImages"] == {"Condition": "HasEcrRepository", "Value": {"Ref": "EcrKeepImages"}}
    assert template["Parameters"]["EcrKeepImages"]["Default"] == 30


def test_the_database_filter_counts_the_event_the_app_logs(template):
    app_logs = runpy.run_path(str(REPO_ROOT / "example" / "timewarp" / "logs.py"))
    pattern = template["Resources"]["DatabaseConnectionFailuresFilter"]["Properties"]["FilterPattern"]
    # A quoted plain term: inside Docker's json-file wrapping the app's JSON is one string.
    assert pattern == f'"{app_logs["DATABASE_CONNECTION_FAILED"]}"' == '"database_connection_failed"'
