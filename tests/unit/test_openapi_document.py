"""The OpenAPI document states what generated clients need (the behaviour is checked by
``tests/e2e/test_openapi_conformance.py`` against the running stack)."""
from __future__ import annotations

import re

import pytest

from api.main import create_api
from ingest.validation import SUPPORTED_MEDIA_TYPES
from warehouse.record_queries import RECORDS_BEHIND
from warehouse.tables import Table

DOC = create_api(None).openapi()  # type: ignore[arg-type]
OPEN = {"/healthz", "/readyz", "/metrics"}
OPERATIONS = [(m, p, op) for p, ops in DOC["paths"].items() for m, op in ops.items()]
ERROR = {"$ref": "#/components/schemas/ErrorResponse"}


@pytest.mark.parametrize("method,path,op", [o for o in OPERATIONS if o[1] not in OPEN],
                         ids=[f"{m} {p}" for m, p, _ in OPERATIONS if p not in OPEN])
def test_authenticated_routes_document_their_errors_with_the_error_model(method, path, op):
    want = {"401", "429"} if path == "/v1/whoami" else {"401", "403", "422", "429", "503"}
    assert want <= set(op["responses"])
    for code, response in op["responses"].items():
        if code.startswith(("4", "5")):
            assert response["content"]["application/json"]["schema"] == ERROR, (code, response)
    if "{" in path and method != "put":  # PUT creates what it does not find
        assert "404" in op["responses"]


def test_ingest_documents_a_body_per_content_type_with_its_schema_and_binary_headers():
    op = DOC["paths"]["/v1/events"]["post"]
    content = op["requestBody"]["content"]
    assert set(content) == set(SUPPORTED_MEDIA_TYPES)
    assert content["application/cloudevents+json"]["schema"] == {"$ref": "#/components/schemas/CloudEvent"}
    assert content["application/cloudevents-batch+json"]["schema"]["items"] == {
        "$ref": "#/components/schemas/CloudEvent"}
    assert {"touchpoint", "response", "invitation", "outcome"} <= set(content["application/cloudevents+json"]["examples"])
    cloud_event = DOC["components"]["schemas"]["CloudEvent"]
    assert {r["$ref"] for r in cloud_event["oneOf"]} == {
        f"#/components/schemas/{m}" for m in ("TouchpointEvent", "SurveyResponseEvent", "SurveyInvitationEvent",
                                                   "SignalEvent", "OutcomeEvent")}
    assert {p["name"] for p in op["parameters"]} >= {"ce-specversion", "ce-id", "ce-source", "ce-type", "ce-time"}
    assert {"400", "413", "415", "503", "507"} <= set(op["responses"])


def test_put_rule_documents_created_and_replaced():
    responses = DOC["paths"]["/v1/alert-rules/{rule_id}"]["put"]["responses"]
    assert responses["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RulePublic"}
    assert responses["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RulePublic"}


def _param(path: str, name: str) -> dict:
    return next(p for p in DOC["paths"][path]["get"]["parameters"] if p["name"] == name)


def _enum(schema: dict) -> list[str]:
    return DOC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]["enum"]


@pytest.mark.parametrize("path,table", [("/v1/touchpoints", Table.touchpoints),
                                        ("/v1/touchpoints/export", Table.touchpoints),
                                        ("/v1/responses", Table.survey_responses),
                                        ("/v1/responses/export", Table.survey_responses)])
def test_drilldown_lists_only_the_metrics_it_accepts(path, table):
    schema = _param(path, "metric")["schema"]
    behind = [m.value for m, (t, _) in RECORDS_BEHIND.items() if t is table]
    if table is Table.touchpoints:
        assert _enum(schema) == behind
        return
    # Answers: the metrics behind them or a rated aspect (a pattern, since aspects are configured).
    pattern = re.compile(schema["pattern"])
    others = [m.value for m, (t, _) in RECORDS_BEHIND.items() if t is not table]
    assert all(pattern.fullmatch(m) for m in behind) and not any(pattern.fullmatch(m) for m in others)
    assert pattern.fullmatch("aspect:wait_time") and pattern.fullmatch("aspect_top2:wait_time")
    assert not pattern.fullmatch("aspect:") and not pattern.fullmatch("aspect:Wait")


def test_gap_kinds_are_a_closed_set():
    pattern = re.compile(_param("/v1/gaps", "kind")["schema"]["pattern"])
    assert pattern.fullmatch("target,segment,baseline,data") and pattern.fullmatch("data")
    assert not pattern.fullmatch("vibes") and not pattern.fullmatch("data,")


def test_date_time_parameters_are_date_times():
    for path in ("/v1/alerts", "/v1/kpis", "/v1/gaps", "/v1/audit", "/v1/cases/stats"):
        for p in DOC["paths"][path]["get"]["parameters"]:
            if p["name"] in ("from", "to", "at", "since", "until"):
                types = p["schema"].get("anyOf", [p["schema"]])
                assert {"type": "string", "format": "date-time"} in types, (path, p)
