"""The HTTP API fuzzed from its own OpenAPI schema (schemathesis, in process through ASGI):
no generated request may get a 5xx, and every error answer has a JSON body."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode

from lstm_sentiment import SentimentModel
from lstm_sentiment.serve import create_app

OPERATIONS = ["POST /v1/predict", "POST /v1/explain", "GET /v1/model", "GET /health",
              "GET /metrics"]


@pytest.fixture(scope="module")
def api_schema(tiny_model: Path) -> schemathesis.BaseSchema:
    app = create_app(SentimentModel.load(tiny_model), max_queue=100_000)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def errors_are_json(ctx: object, response: schemathesis.Response, case: object) -> bool:
    if response.status_code >= 400:
        body = json.loads(response.text)
        assert isinstance(body, dict) and isinstance(body.get("error"), str), response.text
    return True


def test_the_schema_lists_every_operation(api_schema: schemathesis.BaseSchema) -> None:
    found = {op.ok().label for op in api_schema.get_all_operations()}
    assert found == set(OPERATIONS)


@pytest.mark.parametrize(("label", "mode"), [
    *((op, GenerationMode.POSITIVE) for op in OPERATIONS),
    # only the operations with a body have a schema to break
    *((op, GenerationMode.NEGATIVE) for op in OPERATIONS if op.startswith("POST"))])
def test_no_server_errors_and_json_errors(api_schema: schemathesis.BaseSchema, label: str,
                                          mode: GenerationMode) -> None:
    """Requests that fit the schema, and (negative) ones that break it: wrong types, missing
    or extra fields, bad values."""
    method, path = label.split(" ")
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=30, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=[not_a_server_error, errors_are_json])

    fuzz()
