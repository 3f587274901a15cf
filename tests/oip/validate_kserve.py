"""Validates KServe manifests against the API models the `kserve` PyPI package publishes.

Usage: python validate_kserve.py FILE.yaml...
Each document's apiVersion must be one of KServe's group versions, and its body must fit the
package's model of its kind (V1alpha1ClusterServingRuntime, V1beta1InferenceService, ...),
recursively, down to the Kubernetes core types (V1Container, V1Probe, ...) of the
`kubernetes` package: no unknown field at any depth, the declared type for every value, and
every field the generated models require. Prints one line per document; exits 1 on errors.

What this cannot check: the CRDs' own OpenAPI constraints that the generated models do not
carry (enums, patterns, CEL rules), admission webhooks, and the `{{.Name}}` templating.
"""

import sys

import kserve
from kserve.constants import constants
import kserve.models
import kubernetes.client.models
import yaml

VERSIONS = {constants.KSERVE_V1ALPHA1, constants.KSERVE_V1BETA1}
PRIMITIVES = {
    "str": (str,),
    "int": (int,),
    "bool": (bool,),
    "float": (int, float),
    "object": (object,),
    "datetime": (str,),
    "date": (str,),
}


def model(name):
    for module in (kserve.models, kubernetes.client.models):
        found = getattr(module, name, None)
        if found is not None:
            return found
    raise LookupError(f"no published model named {name}")


def check(value, type_name, path, errors):
    # kserve's models write list[X] and dict(str, X); the kubernetes package's List[X] and
    # Dict[str, X].
    if type_name.startswith("List["):
        type_name = "list[" + type_name[5:]
    if type_name.startswith("Dict["):
        type_name = "dict(" + type_name[5:-1] + ")"
    if type_name.startswith("list["):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list")
            return
        for i, item in enumerate(value):
            check(item, type_name[5:-1], f"{path}[{i}]", errors)
    elif type_name.startswith("dict("):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map")
            return
        inner = type_name[type_name.index(",") + 1 : -1].strip()
        for key, item in value.items():
            check(item, inner, f"{path}.{key}", errors)
    elif type_name in PRIMITIVES:
        wanted = PRIMITIVES[type_name]
        if isinstance(value, bool) and type_name in ("int", "float"):
            errors.append(f"{path}: expected {type_name}, got a boolean")
        elif not isinstance(value, wanted):
            errors.append(f"{path}: expected {type_name}, got {type(value).__name__}")
    else:
        cls = model(type_name)
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object ({type_name})")
            return
        by_key = {json_key: attr for attr, json_key in cls.attribute_map.items()}
        for key, item in value.items():
            if key not in by_key:
                errors.append(f"{path}.{key}: unknown field of {type_name}")
                continue
            check(item, cls.openapi_types[by_key[key]], f"{path}.{key}", errors)
        # The generated models refuse a missing required field in their constructors.
        try:
            cls(**{by_key[k]: v for k, v in value.items() if k in by_key})
        except ValueError as e:
            errors.append(f"{path}: {e}")


def main(paths):
    failed = False
    for path in paths:
        with open(path) as f:
            documents = [d for d in yaml.safe_load_all(f) if d is not None]
        for doc in documents:
            api_version, kind = doc.get("apiVersion"), doc.get("kind")
            errors = []
            if api_version not in VERSIONS:
                errors.append(f"apiVersion {api_version!r} is not one of {sorted(VERSIONS)}")
                type_name = None
            else:
                # serving.kserve.io/v1alpha1 + ClusterServingRuntime → V1alpha1ClusterServingRuntime
                version = api_version.split("/")[1]
                type_name = version[0].upper() + version[1:] + kind
                try:
                    model(type_name)
                except LookupError as e:
                    errors.append(str(e))
                    type_name = None
            if type_name:
                check(doc, type_name, kind, errors)
            name = (doc.get("metadata") or {}).get("name")
            if errors:
                failed = True
                for error in errors:
                    print(f"{path}: {kind}/{name}: {error}")
            else:
                print(f"{path}: {kind}/{name}: valid {type_name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
