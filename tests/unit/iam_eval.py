"""The stack's IAM policies, evaluated the way IAM evaluates an identity's policies.

moto cannot check this: its access control evaluates no S3 condition keys (moto
iam/access_control.py: "TODO add support for the Resource and Condition parts"; a condition
it cannot read turns an Allow into a Deny), and AWS is out of reach here. So the template's
policy documents are evaluated, with the names a deploy would give, following the IAM User
Guide, "Policy evaluation logic" (one account, identity policies only):

- an explicit Deny of a matching statement wins; otherwise a matching Allow allows; otherwise
  the request is denied (implicitly).
- a statement matches when its Action matches the request's action (case-insensitive, `*` and
  `?` wildcards), its Resource the resource ARN (wildcards, case-sensitive), and every condition
  holds ("Condition element": all operators and all keys must match, any one value of a key).
- condition operators ("IAM JSON policy elements: Condition operators"): StringEquals,
  StringLike, Bool (a key that is absent does not match), Null ("true": the key is absent,
  "false": it is present).

Anything this evaluator does not model (NotAction, NotResource, other operators, a reference
it cannot resolve) is an error, never silently allowed or denied.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase


def resolve(value, names: dict[str, str]):
    """A template value with Ref, Fn::GetAtt and Fn::Sub replaced from `names`
    ("BackupBucket.Arn", "BackupPrefix", "AWS::Region", ...)."""
    if isinstance(value, list):
        return [resolve(item, names) for item in value]
    if isinstance(value, dict):
        functions = [key for key in value if key == "Ref" or key.startswith("Fn::")]
        if not functions:
            return {key: resolve(item, names) for key, item in value.items()}
        [(function, argument)] = value.items()
        if function == "Ref":
            return names[argument]
        if function == "Fn::GetAtt":
            return names[".".join(argument)]
        if function == "Fn::Sub":
            return re.sub(r"\$\{([^}]+)\}", lambda match: names[match[1]], argument)
        raise ValueError(f"{function} is not modelled")
    return value


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _condition_holds(operator: str, key: str, expected: list[str], context: dict[str, str]) -> bool:
    present = key in context
    if operator == "Null":
        [value] = expected
        return (not present) if value == "true" else present
    if not present:
        return False
    actual = context[key]
    if operator == "Bool":
        return any(actual.lower() == value.lower() for value in expected)
    if operator == "StringEquals":
        return actual in expected
    if operator == "StringLike":
        return any(fnmatchcase(actual, value) for value in expected)
    raise ValueError(f"condition operator {operator} is not modelled")


def _matches(statement: dict, action: str, resource: str, context: dict[str, str]) -> bool:
    unknown = set(statement) - {"Sid", "Effect", "Action", "Resource", "Condition"}
    if unknown:
        raise ValueError(f"statement elements {sorted(unknown)} are not modelled")
    if not any(fnmatchcase(action.lower(), pattern.lower()) for pattern in _listed(statement["Action"])):
        return False
    if not any(fnmatchcase(resource, pattern) for pattern in _listed(statement["Resource"])):
        return False
    return all(_condition_holds(operator, key, [str(value) for value in _listed(values)], context)
               for operator, keys in statement.get("Condition", {}).items()
               for key, values in keys.items())


def allowed(statements: list[dict], action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    """Whether an identity with these (resolved) statements may do `action` on `resource` in a
    request with these condition keys."""
    context = context or {}
    matching = [statement for statement in statements if _matches(statement, action, resource, context)]
    if any(statement["Effect"] == "Deny" for statement in matching):
        return False
    return any(statement["Effect"] == "Allow" for statement in matching)
