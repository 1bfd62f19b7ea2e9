"""Run validate.js (Medplum validateResource against the vendored ANS SAS IG profiles) on
resources, from the tests. `npm ci` in this folder installs it (.ci/run does)."""

import json
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).parent
IG_EXAMPLES = HERE.parent / "ig" / "package" / "example"

# Defects of the validator itself, each one firing on the IG's own examples (see
# test_fhir_validation.py::test_the_validator_is_calibrated_on_the_ig_examples), so not
# held against us: Medplum evaluates ref-1 as failed on a Reference that carries only an
# identifier (the IG's own organization.identifier and FrAppointmentOperator), and does
# not match the two slices whose discriminator is an extension's value type.
KNOWN_VALIDATOR_DEFECTS = (
    ("Constraint ref-1 not met", "PractitionerRole.organization"),
    ("for slice 'valueReference'", "Appointment.extension"),
    ("for slice 'sas-servicetype-r5'", "Slot.serviceType"),
)


def available() -> bool:
    return bool(shutil.which("node")) and (HERE / "node_modules" / "@medplum" / "core").is_dir()


def validate(resources: list[dict]) -> list[list[dict]]:
    """The validator's error issues for each resource (known defects left out)."""
    if not available():
        raise RuntimeError("Validateur absent : lancez `npm ci` dans tests/interop/validator.")
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in resources) + "\n"
    done = subprocess.run(
        ["node", str(HERE / "validate.js")],
        input=lines.encode(),
        capture_output=True,
        check=True,
        timeout=120,
    )
    out = [json.loads(line) for line in done.stdout.decode().splitlines() if line.strip()]
    assert len(out) == len(resources), done.stderr.decode()[-2000:]
    return [
        [
            issue
            for issue in answer["issues"]
            if not any(
                m in issue["message"] and p in issue["path"] for m, p in KNOWN_VALIDATOR_DEFECTS
            )
        ]
        for answer in out
    ]


def validate_raw(resources: list[dict]) -> list[dict]:
    """The validator's full answers (issues and unchecked profiles), nothing filtered."""
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in resources) + "\n"
    done = subprocess.run(
        ["node", str(HERE / "validate.js")], input=lines.encode(), capture_output=True, check=True
    )
    return [json.loads(line) for line in done.stdout.decode().splitlines() if line.strip()]
