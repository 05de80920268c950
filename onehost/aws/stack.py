"""`onehost stack`: the CloudFormation stack of one environment's long-lived AWS resources.

    onehost stack deploy --project P --environment E [--admin-cidr 203.0.113.4/32] [--dry]
    onehost stack status --project P --environment E
    onehost stack delete --project P --environment E --yes

The template is deploy/aws/stack.yaml. `deploy` creates the stack, or updates it through a change
set: it prints what would change, refuses to replace the data volume, the Elastic IP or the backup bucket (a replacement
would be a new, empty one), executes, and streams the stack's events until the stack is done
(boto3's waiters decide when). The stack is named <project>-<environment>.

SSH reaches the hosts through the stack's EC2 Instance Connect Endpoint, for callers with the
stack's DeployAccessPolicy; nothing is open to SSH from the internet unless --admin-cidr adds one
network. `deploy` picks the network: the default VPC, a zone that offers t3.micro, and that zone's
default subnet (the endpoint's, and the one hosts launch into). In another VPC, give
--parameter VpcId=... and --parameter SubnetId=... (a subnet of that VPC in the stack's zone).

With --parameter EcrRepository=<name> (a repository made elsewhere), `deploy` then sets that
repository's lifecycle policy: the newest EcrKeepImages (default 30) images stay, older ones
expire. CloudFormation can only do that for a repository it owns, so boto3 does it here.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from onehost.aws.clients import table, tag_list
from onehost.local.shell import CommandFailed
from onehost.paths import REPO_ROOT

TEMPLATE = REPO_ROOT / "deploy" / "aws" / "stack.yaml"
# A replacement of these would be a new, empty resource (the old one is retained, orphaned).
PROTECTED = {"DataVolume": "the data volume", "Address": "the Elastic IP",
             "BackupBucket": "the backup bucket"}
# States from which no change set can run: the stack must be deleted (or fixed) first.
DEAD_STATES = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED",
               "IMPORT_ROLLBACK_FAILED"}
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


@dataclass(frozen=True)
class Change:
    action: str
    logical_id: str
    resource_type: str
    replacement: str  # "True", "False", "Conditional" or "" (adds and removes)


# --- pure ------------------------------------------------------------------------

def stack_name(project: str, environment: str) -> str:
    return f"{project}-{environment}"


def admin_cidr(text: str) -> str:
    """An IPv4 network narrower than the whole internet, in canonical form; empty for none
    (no direct SSH: the endpoint is the way in)."""
    if text == "":
        return ""
    try:
        network = ipaddress.IPv4Network(text, strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an IPv4 network: give your address with /32, e.g. 203.0.113.4/32") from None
    if network.prefixlen == 0:
        raise argparse.ArgumentTypeError(
            f"{text} opens SSH to the whole internet: give your own address with /32")
    return str(network)


# Parameters with a rule of their own: --parameter gets the same check as the flag.
CHECKED_PARAMETERS = {"AdminCidr": admin_cidr}


def parameter_pair(text: str) -> tuple[str, str]:
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: give a parameter as Key=Value")
    check = CHECKED_PARAMETERS.get(key)
    return key, check(value) if check else value


def stack_parameters(given: dict[str, str], existing: set[str]) -> list[dict]:
    """Given values, and UsePreviousValue for every other parameter the stack already has."""
    parameters = [{"ParameterKey": key, "ParameterValue": value} for key, value in sorted(given.items())]
    parameters += [{"ParameterKey": key, "UsePreviousValue": True}
                   for key in sorted(existing - set(given))]
    return parameters


def changes_from(description: dict) -> list[Change]:
    return [Change(action=item["ResourceChange"]["Action"],
                   logical_id=item["ResourceChange"]["LogicalResourceId"],
                   resource_type=item["ResourceChange"]["ResourceType"],
                   replacement=item["ResourceChange"].get("Replacement", ""))
            for item in description.get("Changes", []) if item.get("Type") == "Resource"]


def change_lines(changes: list[Change]) -> list[str]:
    rows = [[change.action, change.logical_id, change.resource_type,
             "replaced" if change.replacement == "True" else
             "may be replaced" if change.replacement == "Conditional" else ""]
            for change in changes]
    return table(["ACTION", "RESOURCE", "TYPE", "REPLACEMENT"], rows).splitlines()


def protected_replacements(changes: list[Change]) -> list[str]:
    """What the change set would replace or remove that holds data or a public address."""
    return [f"{change.logical_id} ({PROTECTED[change.logical_id]}) would be "
            + ("removed" if change.action == "Remove" else "replaced")
            for change in changes if change.logical_id in PROTECTED
            and (change.action == "Remove" or change.replacement in ("True", "Conditional"))]


def new_events(events: list[dict], seen: set[str], since: datetime) -> list[dict]:
    """Events not printed yet and not older than this run, oldest first
    (describe_stack_events lists newest first)."""
    fresh = [event for event in events if event["EventId"] not in seen and event["Timestamp"] >= since]
    return sorted(fresh, key=lambda event: event["Timestamp"])


def event_line(event: dict) -> str:
    reason = event.get("ResourceStatusReason")
    return (f"{event['Timestamp'].strftime('%H:%M:%S')}  {event['ResourceStatus']:<20}  "
            f"{event['LogicalResourceId']} ({event['ResourceType']})" + (f": {reason}" if reason else ""))


def failure_reasons(events: list[dict]) -> list[str]:
    return [f"{event['LogicalResourceId']}: {event['ResourceStatusReason']}"
            for event in sorted(events, key=lambda event: event["Timestamp"])
            if event["ResourceStatus"].endswith("_FAILED") and event.get("ResourceStatusReason")]


def state_problem(name: str, status: str, reasons: list[str]) -> str | None:
    """Why no change set can run on a stack in this state, with the fix; None if one can."""
    why = f" ({'; '.join(reasons)})" if reasons else ""
    if status == "ROLLBACK_COMPLETE":
        return (f"stack {name} is ROLLBACK_COMPLETE: its creation failed{why} and nothing can update "
                f"it; fix the cause, then `onehost stack delete` it and deploy again (the data volume "
                "and backup bucket of a failed creation are kept: delete them by hand if empty)")
    if status in DEAD_STATES:
        return (f"stack {name} is {status}{why}: see its events in the CloudFormation console, "
                "fix the resource, then continue or delete the stack")
    if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        return (f"stack {name} is {status}: another change is running; wait for it "
                "(`onehost stack status`) and deploy again")
    return None


def default_subnet_request(vpc_id: str, zone: str) -> dict:
    """describe_subnets for the zone's default subnet of the default VPC (EC2 API Reference,
    DescribeSubnets filters vpc-id, availability-zone, default-for-az)."""
    return {"Filters": [{"Name": "vpc-id", "Values": [vpc_id]},
                        {"Name": "availability-zone", "Values": [zone]},
                        {"Name": "default-for-az", "Values": ["true"]}]}


def subnet_problem(subnet: dict, vpc_id: str, zone: str) -> str | None:
    """Why this subnet cannot be the stack's (the endpoint and the hosts must share the data
    volume's zone, in the stack's VPC), with the fix; None if it can."""
    if subnet["VpcId"] != vpc_id:
        return (f"subnet {subnet['SubnetId']} is in {subnet['VpcId']}, not in the stack's VPC {vpc_id}: "
                f"give --parameter SubnetId= a subnet of {vpc_id}, or --parameter VpcId={subnet['VpcId']}")
    if subnet["AvailabilityZone"] != zone:
        return (f"subnet {subnet['SubnetId']} is in {subnet['AvailabilityZone']}, not in the stack's zone {zone} "
                f"(where the data volume is): give --parameter SubnetId= a subnet of {vpc_id} in {zone}")
    return None


def previous_values(stack: dict | None) -> dict[str, str]:
    return {item["ParameterKey"]: item["ParameterValue"] for item in (stack or {}).get("Parameters", [])
            if "ParameterValue" in item}


def outputs_of(stack: dict) -> dict[str, str]:
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def group_data_lines(outputs: dict[str, str], region: str) -> list[str]:
    """The deploy's settings that come from the stack (for group_data or --data)."""
    settings = {"aws_region": region, "backup_bucket": outputs.get("BackupBucketName"),
                "cloudwatch_log_group": outputs.get("LogGroupName"),
                "cloudwatch_namespace": outputs.get("MetricNamespace"),
                "ssm_path": outputs.get("SsmPath") and outputs["SsmPath"] + "/"}
    return [f"{key} = {value!r}" for key, value in settings.items() if value]


def access_lines(outputs: dict[str, str]) -> list[str]:
    """How operators and CI reach the hosts, from the stack's outputs."""
    lines = []
    if outputs.get("InstanceConnectEndpointId"):
        lines.append(f"SSH goes through EC2 Instance Connect Endpoint {outputs['InstanceConnectEndpointId']} "
                     "(aws ec2-instance-connect open-tunnel, AWS CLI v2)")
    if outputs.get("DeployAccessPolicyArn"):
        lines += ["attach to your operator user/role and the CI deploy role:",
                  f"  {outputs['DeployAccessPolicyArn']}"]
    return lines


def ecr_lifecycle_policy(keep: int) -> str:
    """The lifecycle policy text that keeps the newest `keep` images of a repository, tagged or
    not, and expires the others (Amazon ECR User Guide, "Examples of lifecycle policies":
    imageCountMoreThan counts images by push time, newest first)."""
    return json.dumps({"rules": [{
        "rulePriority": 1,
        "description": f"keep the newest {keep} images (onehost stack EcrKeepImages)",
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
        "action": {"type": "expire"},
    }]}, separators=(",", ":"))


# --- AWS ---------------------------------------------------------------------------

def describe(cfn, name: str) -> dict | None:
    from botocore.exceptions import ClientError
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise


def all_events(cfn, name: str) -> list[dict]:
    """The stack's events; none once a deleted stack is gone."""
    from botocore.exceptions import ClientError
    try:
        pages = cfn.get_paginator("describe_stack_events").paginate(StackName=name)
        return [event for page in pages for event in page["StackEvents"]]
    except ClientError as error:
        if "does not exist" in str(error):
            return []
        raise


def default_vpc(ec2) -> str:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise CommandFailed("this region has no default VPC: pass --parameter VpcId=vpc-...")
    return vpcs[0]["VpcId"]


def is_default_vpc(ec2, vpc_id: str) -> bool:
    [vpc] = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    return bool(vpc.get("IsDefault"))


def given_subnet(ec2, subnet_id: str) -> dict:
    from botocore.exceptions import ClientError
    try:
        return ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
    except ClientError as error:
        if error.response["Error"]["Code"] == "InvalidSubnetID.NotFound":
            raise CommandFailed(f"subnet {subnet_id} does not exist in {ec2.meta.region_name}: "
                                "check --parameter SubnetId and --region") from None
        raise


def default_subnet(ec2, vpc_id: str, zone: str) -> str:
    subnets = ec2.describe_subnets(**default_subnet_request(vpc_id, zone))["Subnets"]
    if not subnets:
        raise CommandFailed(f"the default VPC {vpc_id} has no default subnet in {zone}: create one "
                            f"(aws ec2 create-default-subnet --availability-zone {zone}) or give "
                            "--parameter SubnetId=subnet-...")
    return subnets[0]["SubnetId"]


def network_parameters(ec2, given: dict[str, str], previous: dict[str, str]) -> dict[str, str]:
    """VpcId, AvailabilityZone and SubnetId for the stack: given ones are checked, missing ones
    picked (a given subnet decides the VPC and zone nobody gave; otherwise the default VPC,
    a zone that offers t3.micro and that zone's default subnet)."""
    vpc_id = given.get("VpcId") or previous.get("VpcId")
    zone = given.get("AvailabilityZone") or previous.get("AvailabilityZone")
    subnet_id = given.get("SubnetId") or previous.get("SubnetId")
    if subnet_id:
        subnet = given_subnet(ec2, subnet_id)
        vpc_id, zone = vpc_id or subnet["VpcId"], zone or subnet["AvailabilityZone"]
        problem = subnet_problem(subnet, vpc_id, zone)
        if problem:
            raise CommandFailed(problem)
        return {"VpcId": vpc_id, "AvailabilityZone": zone, "SubnetId": subnet_id}
    if not vpc_id:
        vpc_id = default_vpc(ec2)
    elif not is_default_vpc(ec2, vpc_id):
        raise CommandFailed(f"{vpc_id} is not the default VPC, and only the default VPC has default subnets to "
                            f"pick from: give --parameter SubnetId=subnet-... too, a subnet of {vpc_id}"
                            + (f" in {zone}" if zone else ""))
    zone = zone or zone_offering(ec2)
    return {"VpcId": vpc_id, "AvailabilityZone": zone, "SubnetId": default_subnet(ec2, vpc_id, zone)}


def zone_offering(ec2, instance_type: str = "t3.micro") -> str:
    """The first available zone that offers the instance type: zone names are mapped per account,
    and in some accounts the alphabetically first zone has no t3.micro (EC2 API Reference,
    DescribeInstanceTypeOfferings with LocationType availability-zone)."""
    zones = {zone["ZoneName"] for zone in ec2.describe_availability_zones(
        Filters=[{"Name": "state", "Values": ["available"]}])["AvailabilityZones"]}
    pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": [instance_type]}])
    offering = sorted(zones & {item["Location"] for page in pages for item in page["InstanceTypeOfferings"]})
    if not offering:
        raise CommandFailed(f"no available zone in {ec2.meta.region_name} offers {instance_type}: choose "
                            "another region, or give --parameter AvailabilityZone=...")
    return offering[0]


def wait_with_events(cfn, name: str, waiter_name: str, since: datetime, say, poll_seconds: float,
                     timeout_seconds: float) -> dict:
    """Print the stack's new events every poll until the waiter sees the end; raise on failure."""
    from botocore.exceptions import WaiterError
    waiter = cfn.get_waiter(waiter_name)
    seen: set[str] = set()
    deadline = time.monotonic() + timeout_seconds
    while True:
        events = all_events(cfn, name)
        for event in new_events(events, seen, since):
            seen.add(event["EventId"])
            say("  " + event_line(event))
        try:
            waiter.wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 1})
            return describe(cfn, name)
        except WaiterError as error:
            if "Max attempts exceeded" not in str(error):
                stack = describe(cfn, name) or {}
                reasons = failure_reasons([event for event in all_events(cfn, name)
                                           if event["Timestamp"] >= since])
                raise CommandFailed(f"stack {name} ended {stack.get('StackStatus', 'deleted')}"
                                    + (f": {'; '.join(reasons)}" if reasons else "")) from None
        if time.monotonic() > deadline:
            raise CommandFailed(f"stack {name} did not finish in {timeout_seconds:.0f} s; it goes on in "
                                "AWS: watch it with `onehost stack status`")
        time.sleep(poll_seconds)


def deploy_stack(cfn, ec2, name: str, given: dict[str, str], *, tags: dict[str, str], dry: bool = False,
                 allow_replacement: bool = False, say=print, poll_seconds: float = 5,
                 timeout_seconds: float = 1800) -> dict[str, str]:
    """Create or update the stack through a change set; its outputs."""
    from botocore.exceptions import ClientError
    stack = describe(cfn, name)
    if stack:
        reasons = failure_reasons(all_events(cfn, name)) if stack["StackStatus"] in DEAD_STATES else []
        problem = state_problem(name, stack["StackStatus"], reasons)
        if problem:
            raise CommandFailed(problem)
    if stack and stack["StackStatus"] == "REVIEW_IN_PROGRESS":
        raise CommandFailed(f"stack {name} is REVIEW_IN_PROGRESS: a change set made elsewhere was never "
                            "executed; execute or delete it, or `onehost stack delete` the empty stack")
    creating = stack is None
    given = dict(given)
    previous = previous_values(stack)
    if creating:
        given.update(network_parameters(ec2, given, previous))
        # The deploy access policy may read the app's secrets under /<project>/<environment>/ (ssm_path).
        given.setdefault("SsmPath", f"/{given.get('Project', 'onehost')}/{given.get('Environment', 'production')}")
    elif "SubnetId" not in previous or given.keys() & {"VpcId", "AvailabilityZone", "SubnetId"}:
        # A stack made before SubnetId existed gets its zone's subnet; a changed network is checked.
        network = network_parameters(ec2, given, previous)
        given.update({key: value for key, value in network.items() if key in given or key not in previous})
    since = datetime.now(UTC)
    if creating:
        return create(cfn, name, given, tags=tags, dry=dry, since=since, say=say,
                      poll_seconds=poll_seconds, timeout_seconds=timeout_seconds)
    existing = {item["ParameterKey"] for item in stack.get("Parameters", [])}
    change_set = f"onehost-{since.strftime('%Y%m%d-%H%M%S-%f')}"
    say(f"stack {name}: updating through change set {change_set}")
    try:
        cfn.create_change_set(StackName=name, ChangeSetName=change_set, ChangeSetType="UPDATE",
                              TemplateBody=TEMPLATE.read_text(), Parameters=stack_parameters(given, existing),
                              Capabilities=["CAPABILITY_IAM"], Tags=tag_list(tags))
        description = wait_for_change_set(cfn, name, change_set)
    except ClientError as error:
        if not any(text in str(error) for text in NO_CHANGES):
            raise
        description = None
    if description is None:
        say(f"stack {name} is up to date: nothing to change")
        return outputs_of(stack)
    changes = changes_from(description)
    for line in change_lines(changes) if changes else ["(the change set lists no resource changes)"]:
        say("  " + line)
    refused = [] if allow_replacement else protected_replacements(changes)
    if dry or refused:
        cfn.delete_change_set(StackName=name, ChangeSetName=change_set)
        if refused:
            raise CommandFailed(f"refused: {'; '.join(refused)}, and would start empty. Nothing changed. "
                                "Move the data first, or pass --allow-replacement if that is the intent")
        say("--dry: nothing changed (the change set was deleted)")
        return outputs_of(stack)
    cfn.execute_change_set(StackName=name, ChangeSetName=change_set)
    done = wait_with_events(cfn, name, "stack_update_complete", since, say, poll_seconds, timeout_seconds)
    say(f"stack {name}: {done['StackStatus']}")
    return outputs_of(done)


def create(cfn, name: str, given: dict[str, str], *, tags: dict[str, str], dry: bool, since: datetime,
           say, poll_seconds: float, timeout_seconds: float) -> dict[str, str]:
    """A new stack is created directly: there is nothing to compare with, and a CREATE change
    set left unexecuted (--dry) would leave an empty stack in REVIEW_IN_PROGRESS behind."""
    body = TEMPLATE.read_text()
    summary = cfn.get_template_summary(TemplateBody=body)
    say(f"stack {name}: creating {len(summary['ResourceTypes'])} resources "
        f"({', '.join(sorted(set(summary['ResourceTypes'])))}) with "
        + ", ".join(f"{key}={value}" for key, value in sorted(given.items())))
    if dry:
        say("--dry: nothing created")
        return {}
    cfn.create_stack(StackName=name, TemplateBody=body, Parameters=stack_parameters(given, set()),
                     Capabilities=["CAPABILITY_IAM"], Tags=tag_list(tags), OnFailure="ROLLBACK")
    done = wait_with_events(cfn, name, "stack_create_complete", since, say, poll_seconds, timeout_seconds)
    say(f"stack {name}: {done['StackStatus']}")
    return outputs_of(done)


def wait_for_change_set(cfn, name: str, change_set: str) -> dict | None:
    """The change set's description once created; None (and it is deleted) when it changes nothing."""
    from botocore.exceptions import WaiterError
    try:
        cfn.get_waiter("change_set_create_complete").wait(
            StackName=name, ChangeSetName=change_set, WaiterConfig={"Delay": 2, "MaxAttempts": 150})
    except WaiterError:
        description = cfn.describe_change_set(StackName=name, ChangeSetName=change_set)
        reason = description.get("StatusReason", "")
        if any(text in reason for text in NO_CHANGES):
            cfn.delete_change_set(StackName=name, ChangeSetName=change_set)
            return None
        raise CommandFailed(f"change set {change_set} of stack {name} failed: {reason}") from None
    return cfn.describe_change_set(StackName=name, ChangeSetName=change_set)


def apply_ecr_lifecycle(ecr, outputs: dict[str, str], say=print) -> str | None:
    """The stack's EcrRepository keeps its newest EcrKeepImages images: put the lifecycle policy
    unless the repository already has exactly that one. The repository's name, or None when the
    stack names none."""
    from botocore.exceptions import ClientError
    repository = outputs.get("EcrRepository")
    if not repository:
        return None
    keep = int(outputs.get("EcrKeepImages") or 30)
    wanted = ecr_lifecycle_policy(keep)
    try:
        try:
            current = ecr.get_lifecycle_policy(repositoryName=repository)["lifecyclePolicyText"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "LifecyclePolicyNotFoundException":
                raise
            current = None
        if current is not None and json.loads(current) == json.loads(wanted):
            say(f"ECR repository {repository}: keeps the newest {keep} images (unchanged)")
            return repository
        ecr.put_lifecycle_policy(repositoryName=repository, lifecyclePolicyText=wanted)
    except ClientError as error:
        if error.response["Error"]["Code"] == "RepositoryNotFoundException":
            raise CommandFailed(f"ECR repository {repository} does not exist in {ecr.meta.region_name}: create it "
                                f"(aws ecr create-repository --repository-name {repository}) or fix "
                                "--parameter EcrRepository, then deploy the stack again") from None
        raise
    say(f"ECR repository {repository}: keeps the newest {keep} images; older ones expire (lifecycle policy set)")
    return repository


def delete_stack(cfn, name: str, say=print, poll_seconds: float = 5, timeout_seconds: float = 1800) -> None:
    stack = describe(cfn, name)
    if stack is None:
        raise CommandFailed(f"stack {name} does not exist (check --project, --environment and --region)")
    outputs = outputs_of(stack)
    kept = {key: outputs[key] for key in ("DataVolumeId", "ElasticIp", "BackupBucketName") if key in outputs}
    since = datetime.now(UTC).replace(microsecond=0)
    cfn.delete_stack(StackName=name)
    say(f"stack {name}: deleting")
    wait_with_events(cfn, name, "stack_delete_complete", since, say, poll_seconds, timeout_seconds)
    say(f"stack {name}: deleted; kept (DeletionPolicy Retain): "
        + (", ".join(f"{key} {value}" for key, value in kept.items()) or "nothing was created"))


def status_lines(cfn, name: str, events: int = 10) -> list[str]:
    stack = describe(cfn, name)
    if stack is None:
        raise CommandFailed(f"stack {name} does not exist (check --project, --environment and --region)")
    lines = [f"stack {name}: {stack['StackStatus']}"]
    outputs = outputs_of(stack)
    if outputs:
        lines += ["", *table(["OUTPUT", "VALUE"], [[key, value] for key, value in sorted(outputs.items())])
                  .splitlines()]
    recent = sorted(all_events(cfn, name), key=lambda event: event["Timestamp"])[-events:]
    lines += ["", "recent events:", *("  " + event_line(event) for event in recent)]
    return lines
