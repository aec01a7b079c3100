"""/docs/api: the API reference, rendered on the server from the OpenAPI document."""

import json
from typing import Any

from flask import Blueprint, current_app

from app.api.openapi import openapi_document
from app.models.api_key import API_SCOPES
from app.web import render

bp = Blueprint("api_docs", __name__, url_prefix="/docs/api")
METHOD_ORDER = ("get", "post", "delete")


def _schema_name(reference: dict[str, Any]) -> str | None:
    ref = reference.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref else None


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation, grouped by its tag in document order: method, path, texts, scope,
    parameters, the request body's schema name and each answer's status and schema name."""
    operations = []
    for path, methods in document["paths"].items():
        for method in sorted(methods, key=lambda m: METHOD_ORDER.index(m) if m in METHOD_ORDER else 9):
            operation = methods[method]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            operations.append(
                {
                    "id": operation["operationId"],
                    "method": method.upper(),
                    "path": path,
                    "tag": (operation.get("tags") or ["other"])[0],
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description", ""),
                    "scope": operation.get("x-scope"),
                    "public": operation.get("security") == [],
                    "parameters": operation.get("parameters", []),
                    "body": _schema_name(body),
                    "responses": [
                        (status, _schema_name(answer.get("content", {}).get("application/json", {}).get("schema", {})))
                        for status, answer in operation["responses"].items()
                    ],
                }
            )
    return operations


@bp.route("")
def index():
    document = openapi_document()
    operations = _operations(document)
    tags = list(dict.fromkeys(operation["tag"] for operation in operations))
    schemas = {name: json.dumps(schema, indent=2) for name, schema in document["components"]["schemas"].items()}
    return render(
        "docs/api.html",
        document=document,
        operations=operations,
        tags=tags,
        schemas=schemas,
        scopes=API_SCOPES,
        api_base=current_app.config["APP_BASE_URL"].rstrip("/"),
    )
