"""The vendored Hub Santé models: the repository's own examples pass first, then what
Relais builds and refuses."""

import json

import pytest

from relais.interop.hub import messages as m
from tests.interop.hub.lrm import LRM_ID, RELAIS_ID, body, case_content, case_envelope

EXAMPLES = sorted(m.EXAMPLES_DIR.glob("*.json"))


def test_the_vendored_models_come_with_their_licence():
    assert "Apache License, Version 2.0" in (m.SCHEMA_DIR / "LICENSE_HEADER.txt").read_text()
    assert "e3d4411b2f30e8776f10ca09e0138ade2890bbd2" in (m.SCHEMA_DIR / "NOTICE.md").read_text()
    assert len(EXAMPLES) >= 18


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_models_own_examples_validate(path):
    example = json.loads(path.read_text(encoding="utf-8"))
    (use_case,) = example.keys()
    assert m.schema_errors(m.USE_CASES[use_case], example[use_case]) == []


def test_a_broken_example_does_not_validate():
    example = json.loads((m.EXAMPLES_DIR / "RS-SAS-RDV_appointment_PS.01.json").read_text())
    example["appointment"]["status"] = "confirmed"
    del example["appointment"]["regulator"]
    errors = m.schema_errors("RS-SAS-RDV", example["appointment"])
    assert any("$.status: enum" in e for e in errors)
    assert any('required ["regulator"]' in e for e in errors)


def test_it_reads_a_case_envelope_it_built():
    received = m.parse(body(case_envelope()))
    assert received.use_case == "createCaseHealth"
    assert received.sender_id == LRM_ID and received.recipient_id == RELAIS_ID
    assert received.distribution_id.startswith(LRM_ID + "_")
    assert received.content["perimeter"] == "SNP"


@pytest.mark.parametrize(
    "raw, status",
    [
        (b"\xff\xfe", "UNRECOGNIZED_MESSAGE_FORMAT"),
        (b"{not json", "UNRECOGNIZED_MESSAGE_FORMAT"),
        (b"[1, 2]", "UNRECOGNIZED_MESSAGE_FORMAT"),
        (b'{"distributionID": "x"}', "INVALID_MESSAGE"),
    ],
)
def test_it_refuses_what_is_not_an_envelope_with_the_hubs_codes(raw, status):
    with pytest.raises(m.MessageRefused) as exc:
        m.parse(raw)
    assert exc.value.status == status
    assert exc.value.code == m.ERROR_CODES[status]


def test_a_content_breaking_the_model_is_invalid_and_the_cause_names_no_value():
    envelope = case_envelope()
    content = envelope["content"][0]["jsonContent"]["embeddedJsonContent"]["message"]
    content["createCaseHealth"]["patient"][0]["identity"]["strictFeatures"]["sex"] = "Femme"
    content["createCaseHealth"]["perimeter"] = "AUTRE"
    with pytest.raises(m.MessageRefused) as exc:
        m.parse(body(envelope))
    assert exc.value.code == 300
    assert exc.value.distribution_id == envelope["distributionID"]
    assert "$.patient[0].identity.strictFeatures.sex: enum" in exc.value.cause
    assert "Femme" not in exc.value.cause


def test_a_distribution_id_not_of_its_sender_is_invalid():
    envelope = case_envelope()
    envelope["distributionID"] = "fr.health.autre_1234"
    with pytest.raises(m.MessageRefused) as exc:
        m.parse(body(envelope))
    assert exc.value.code == 300


def test_an_unknown_use_case_has_no_schema():
    envelope = case_envelope()
    message = envelope["content"][0]["jsonContent"]["embeddedJsonContent"]["message"]
    message["resourcesInfo"] = message.pop("createCaseHealth")
    with pytest.raises(m.MessageRefused) as exc:
        m.parse(body(envelope))
    assert (exc.value.code, exc.value.status) == (301, "SCHEMA_NOT_FOUND")


def test_it_never_builds_a_message_outside_the_models():
    content = case_content()
    content["perimeter"] = "SAS"
    with pytest.raises(ValueError, match="perimeter"):
        m.envelope_build(
            sender_id=LRM_ID, recipient_id=RELAIS_ID, use_case="createCaseHealth", content=content
        )
