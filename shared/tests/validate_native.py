"""Validates native Kubernetes objects, as the API server would take them.

Usage: python validate_native.py CRD_FOLDER KUBERNETES_VERSION FILE.native.json...

Built-in kinds are checked with kubernetes-validate's strict schemas (unknown fields are
errors); custom resources against the openAPIV3Schema of their CRD in CRD_FOLDER, made strict
the same way: an object with typed properties takes no others (the API server would prune them
silently, so they would be lost). Prints one line per problem (and per object no CRD here describes) and exits 1 if there was
any problem.
"""

import glob
import json
import sys

import jsonschema
import kubernetes_validate
import yaml


def strict(schema):
    """The CRD's OpenAPI schema as JSON Schema, rejecting fields it does not declare."""
    if not isinstance(schema, dict):
        return schema
    converted = {}
    for key, value in schema.items():
        if key == "properties":
            converted[key] = {name: strict(field) for name, field in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            converted[key] = strict(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            converted[key] = [strict(option) for option in value]
        elif not key.startswith("x-kubernetes-") and key != "nullable":
            converted[key] = value
    if schema.get("x-kubernetes-int-or-string"):
        converted.pop("type", None)
        converted["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable"):
        kind = converted.get("type")
        if isinstance(kind, str):
            converted["type"] = [kind, "null"]
    typed = "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields")
    if typed and "additionalProperties" not in schema:
        converted["additionalProperties"] = False
    return converted


def crd_schemas(folder):
    """(apiVersion, kind) → a validator, for every served version of every CRD in folder."""
    schemas = {}
    for path in sorted(glob.glob(f"{folder}/*.yaml")):
        with open(path) as file:
            for document in yaml.safe_load_all(file):
                if not document or document.get("kind") != "CustomResourceDefinition":
                    continue
                spec = document["spec"]
                for version in spec["versions"]:
                    schema = strict(version["schema"]["openAPIV3Schema"])
                    # Metadata is the API server's to check, not the CRD's; some CRDs leave out
                    # the type fields every object has.
                    properties = schema.setdefault("properties", {})
                    properties["metadata"] = {"type": "object"}
                    properties.setdefault("apiVersion", {"type": "string"})
                    properties.setdefault("kind", {"type": "string"})
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    schemas[key] = jsonschema.Draft7Validator(schema)
    return schemas


def main():
    folder, version, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    schemas = crd_schemas(folder)
    problems = []
    unchecked = []
    checked = 0
    for path in files:
        with open(path) as file:
            objects = json.load(file)
        if isinstance(objects, dict):
            # A resource that cannot be expanded: nothing to submit, nothing to check.
            continue
        for index, obj in enumerate(objects):
            where = f"{path}[{index}] {obj.get('apiVersion')} {obj.get('kind')}"
            checked += 1
            key = (obj.get("apiVersion"), obj.get("kind"))
            if key in schemas:
                for error in schemas[key].iter_errors(obj):
                    path_in = ".".join(str(part) for part in error.absolute_path)
                    problems.append(f"{where}: {path_in}: {error.message}")
                continue
            if "." in obj.get("apiVersion", "").split("/")[0]:
                unchecked.append(f"{where}: no CRD in {folder} describes this kind")
                continue
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path_in = ".".join(str(part) for part in error.path)
                problems.append(f"{where}: {path_in}: {error.message}")
    for problem in problems:
        print(problem)
    for line in unchecked:
        print(f"not checked: {line}")
    print(
        f"{checked - len(unchecked)} of {checked} objects in {len(files)} files checked, "
        f"{len(problems)} problems"
    )
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
