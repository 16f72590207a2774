"""Checks Myelin's Kubernetes manifest as the API server and a reviewer would.

Usage: python validate_deploy.py objects KUBERNETES_VERSION MANIFEST.yaml --health-path PATH
       python validate_deploy.py role MANIFEST.yaml --rule GROUP:RESOURCE,...:VERB,... ...

`objects` checks every document with kubernetes-validate's strict schemas (unknown fields are
errors), that the Deployment's probes ask for PATH, and that no object names a namespace
(`kubectl apply -n` chooses it); its summary is "N objects, M problems".

`role` checks that the Role named myelin grants exactly the --rule permissions (GROUP is empty
for the core group). They are compared as (group, resource, verb) triples, so splitting or
reordering rules does not matter but any widening or narrowing does.

Each prints one line per problem, then its summary, and exits 1 if there was any problem.
"""

import argparse
import sys

import kubernetes_validate
import yaml

RULE_FIELDS = {"apiGroups", "resources", "verbs"}


def triples(rules):
    """(group, resource, verb) for every permission the rules grant."""
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def parse_rule(text):
    group, resources, verbs = text.split(":")
    return {"apiGroups": [group], "resources": resources.split(","), "verbs": verbs.split(",")}


def show(triple):
    group, resource, verb = triple
    return f"{group or 'core'} {resource} {verb}"


def check_role(role, expected, problems):
    rules = role.get("rules") or []
    for index, rule in enumerate(rules):
        extra = sorted(set(rule) - RULE_FIELDS)
        if extra:
            problems.append(f"Role myelin: rules[{index}] has {', '.join(extra)}")
    granted = triples(rules)
    wanted = triples(expected)
    for triple in sorted(granted - wanted):
        problems.append(f"Role myelin: grants {show(triple)}, which the test does not expect")
    for triple in sorted(wanted - granted):
        problems.append(f"Role myelin: lacks {show(triple)}, which the test expects")


def check_probes(deployment, health_path, problems):
    pod = deployment.get("spec", {}).get("template", {}).get("spec", {})
    for container in pod.get("containers", []):
        for probe in ("readinessProbe", "livenessProbe"):
            path = container.get(probe, {}).get("httpGet", {}).get("path")
            if path != health_path:
                problems.append(
                    f"Deployment {deployment.get('metadata', {}).get('name')}: "
                    f"container {container.get('name')} "
                    f"{probe} asks for {path}, not the health route {health_path}"
                )


def check_objects(args):
    """Every document against Kubernetes' strict schemas, and what a schema cannot say."""
    documents = load(args.manifest)
    problems = []
    for index, obj in enumerate(documents):
        if not isinstance(obj, dict):
            problems.append(f"document {index}: not an object")
            continue
        where = f"document {index} {obj.get('kind')} {obj.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(obj, args.version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path_in = ".".join(str(part) for part in error.path)
            problems.append(f"{where}: {path_in}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{where}: no schema: {error}")
        if "namespace" in obj.get("metadata", {}):
            problems.append(f"{where}: names a namespace; `kubectl apply -n` should choose it")
        if obj.get("kind") == "Deployment":
            check_probes(obj, args.health_path, problems)
    return problems, f"{len(documents)} objects, {len(problems)} problems"


def check_rules(args):
    """The Role's permissions against the expected ones."""
    roles = [
        obj
        for obj in load(args.manifest)
        if isinstance(obj, dict)
        and obj.get("kind") == "Role"
        and obj.get("metadata", {}).get("name") == "myelin"
    ]
    problems = []
    if len(roles) != 1:
        problems.append(f"{len(roles)} Roles named myelin, not 1")
    else:
        check_role(roles[0], args.rule, problems)
    expected = len(triples(args.rule))
    return problems, f"Role myelin: {expected} permissions expected, {len(problems)} problems"


def load(path):
    with open(path) as file:
        return list(yaml.safe_load_all(file))


def main():
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(required=True)
    objects = commands.add_parser("objects")
    objects.add_argument("version")
    objects.add_argument("manifest")
    objects.add_argument("--health-path", required=True)
    objects.set_defaults(check=check_objects)
    rules = commands.add_parser("role")
    rules.add_argument("manifest")
    rules.add_argument("--rule", action="append", type=parse_rule, required=True)
    rules.set_defaults(check=check_rules)
    args = parser.parse_args()

    problems, summary = args.check(args)
    for problem in problems:
        print(problem)
    print(summary)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
