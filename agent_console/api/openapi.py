"""The OpenAPI 3.1 document of the API, built from the route table and the
pydantic models' JSON schemas (nothing hand-written per endpoint).

Rules:
- one pass over ``Routes.endpoints``: path and query parameters come from the
  path/query models' fields, the request body from the body model (an upload's: a
  binary body of its media types), the success responses (``Endpoint.successes``)
  from the response model plus, for a download, its file types (a download-only
  operation answers files only), every other status of ``Endpoint.statuses``
  (declared, and the wrapper's own) from the shared ``Error`` model;
- all model schemas land in ``components/schemas`` (pydantic's
  ``models_json_schema`` names them and keeps input and output variants apart);
- security: the session cookie everywhere but sign-in; writes also need the
  ``X-CSRF-Token`` header;
- the document is built once per app and served as is.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from agent_console.api.routing import CSRF_HEADER, WRITE_METHODS, Endpoint, Routes
from agent_console.api.schemas import Error

REF = "#/components/schemas/{model}"
_STATUS_TEXT = {
    400: "Malformed request (bad JSON or content type)",
    401: "Not signed in",
    403: "Not allowed (missing grant or CSRF token)",
    404: "No such record, or outside your data scope",
    409: "Duplicate or conflicting record (duplicate: the existing customer; "
         "duplicate_ticket: the open repair ticket)",
    413: "Request body too large",
    422: "Invalid value (the field is named)",
    429: "Too many failed sign-ins",
    502: "The PBX refused the action",
    503: "The PBX cannot be reached from this server",
}
_DOWNLOAD_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _openapi_path(path: str) -> str:
    # aiohttp's {name:regex} -> OpenAPI's {name}
    return re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path)


def _drop_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``X | None`` as a parameter is just an optional ``X`` (a query string has no null)."""
    branches = schema.get("anyOf")
    if not isinstance(branches, list):
        return schema
    kept = [b for b in branches if b != {"type": "null"}]
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    if len(kept) == 1:
        return {**rest, **kept[0]}
    return {**rest, "anyOf": kept}


class _Schemas:
    """Collects every model, then resolves each to its component ``$ref``."""

    def __init__(self, routes: Routes) -> None:
        wanted: list[tuple[Any, JsonSchemaMode]] = [(Error, "serialization")]
        for ep in routes.endpoints:
            for model in (ep.path_model, ep.query_model, ep.body_model):
                if model is not None:
                    wanted.append((model, "validation"))
            if isinstance(ep.response_model, type) and issubclass(ep.response_model, BaseModel):
                wanted.append((ep.response_model, "serialization"))
        models = list(dict.fromkeys(wanted))
        key_map, top = models_json_schema(models, ref_template=REF)
        self.components: dict[str, Any] = dict(top.get("$defs", {}))
        self._refs = {key: value for key, value in key_map.items()}

    def ref(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(self._refs[(model, mode)])

    def response(self, annotation: Any) -> dict[str, Any]:
        """The schema of a response annotation (a model, or e.g. ``list[Model]``)."""
        if (annotation, "serialization") in self._refs:
            return self.ref(annotation, "serialization")
        schema = TypeAdapter(annotation).json_schema(mode="serialization", ref_template=REF)
        self.components.update(schema.pop("$defs", {}))
        return schema

    def resolve(self, model: type[BaseModel]) -> dict[str, Any]:
        ref = self.ref(model, "validation")["$ref"]
        return dict(self.components[ref.rsplit("/", 1)[1]])


def _parameters(schemas: _Schemas, model: type[BaseModel] | None, where: str
                ) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = schemas.resolve(model)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        param: dict[str, Any] = {
            "name": name, "in": where, "required": where == "path" or name in required,
            "schema": _drop_null(prop),
        }
        if "description" in prop:
            param["description"] = prop["description"]
        params.append(param)
    return params


def _error_response(status: int) -> dict[str, Any]:
    return {"description": _STATUS_TEXT.get(status, "Error"),
            "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}}


def _operation(schemas: _Schemas, ep: Endpoint) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": ep.operation_id, "summary": ep.summary,
                          "tags": [ep.tag]}
    if ep.description:
        op["description"] = ep.description
    params = (_parameters(schemas, ep.path_model, "path")
              + _parameters(schemas, ep.query_model, "query"))
    if params:
        op["parameters"] = params
    if ep.body_model is not None:
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": schemas.ref(ep.body_model, "validation")}}}
    elif ep.upload is not None:
        op["requestBody"] = {"required": True, "content": {
            media: {"schema": {"type": "string", "contentEncoding": "binary"}}
            for media in ep.upload.media_types}}
    responses: dict[str, Any] = {}
    for status in ep.successes:
        if ep.response_model is None and ep.download is None:
            responses[str(status)] = {"description": "Done"}
            continue
        content: dict[str, Any] = {}
        if ep.response_model is not None:
            content["application/json"] = {"schema": schemas.response(ep.response_model)}
        if ep.download is not None:
            for fmt in ep.download.formats:
                content[_DOWNLOAD_TYPES[fmt]] = {"schema": {"type": "string",
                                                            "contentEncoding": "binary"}}
        responses[str(status)] = {"description": "OK", "content": content}
    for status in sorted(ep.statuses - set(ep.successes)):
        responses[str(status)] = _error_response(status)
    op["responses"] = responses
    if ep.public:
        op["security"] = []
    elif ep.method in WRITE_METHODS:
        op["security"] = [{"cookieAuth": [], "csrfToken": []}]
    return op


def build_openapi(routes: Routes, *, cookie_name: str, title: str = "Hotline API",
                  version: str = "1") -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``routes`` (mounted at ``/api/v1``)."""
    schemas = _Schemas(routes)
    paths: dict[str, dict[str, Any]] = {}
    for ep in routes.endpoints:
        paths.setdefault(_openapi_path(ep.path), {})[ep.method.lower()] = _operation(schemas, ep)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Hotline CRM. Sign in with POST /session; the session is "
                                "a cookie; every write also sends the X-CSRF-Token header."},
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": cookie_name},
                "csrfToken": {"type": "apiKey", "in": "header", "name": CSRF_HEADER},
            },
        },
        "security": [{"cookieAuth": []}],
    }
