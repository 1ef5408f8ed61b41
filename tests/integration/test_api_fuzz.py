"""The OpenAPI document is valid OpenAPI 3.1, and a schemathesis run against the
live server (signed in as an admin, a bounded number of examples) finds no 5xx and no
status the document does not list (issue 13 item 10)."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import schemathesis

from tests.integration.test_api_support import running_api, seed_customers, signed_in

ST = Path(sys.executable).with_name("st")
FUZZ_TIMEOUT_S = 240  # a hang fails the test; a normal run takes well under a minute


async def test_openapi_document_is_valid_and_complete(tmp_path: Path) -> None:
    async with running_api(f"sqlite+aiosqlite:///{tmp_path}/api.db") as api:
        client = api.client()
        try:
            resp = await client.get("/openapi.json")
            assert resp.status == 200
            doc = await resp.json()
        finally:
            await client.close()
    assert doc["openapi"].startswith("3.1")
    schemathesis.openapi.from_dict(doc).validate()  # raises on an invalid document
    assert doc["components"]["securitySchemes"]["cookieAuth"]["in"] == "cookie"
    sign_in = doc["paths"]["/session"]["post"]
    assert sign_in["security"] == []
    assert sign_in["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["operationId"] and op["summary"], (method, path)
            if op.get("parameters") or op.get("requestBody"):
                assert "422" in op["responses"], (method, path)
            if (method, path) != ("post", "/session"):
                assert "401" in op["responses"], (method, path)


async def test_schemathesis_finds_no_server_error(db_url: str, tmp_path: Path) -> None:
    async with running_api(db_url) as api, signed_in(api, "admin") as admin:
        await seed_customers(api)  # so that generated ids hit real records too
        proc = await asyncio.create_subprocess_exec(
            str(ST), "run", f"{api.base}/openapi.json", "--url", api.base,
            "--checks", "not_a_server_error,status_code_conformance",
            "--max-examples", "8", "--seed", "4", "--workers", "1",
            "--phases", "examples,coverage,fuzzing",
            "--generation-with-security-parameters", "false",
            "--generation-database", "none",
            "--request-timeout", "20",
            # signing out would end the run's session; it is tested on its own
            "--exclude-operation-id", "sign_out",
            "-H", f"Cookie: {admin.cookie_header()}",
            "-H", f"X-CSRF-Token: {admin.csrf}",
            "--no-color",
            cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), FUZZ_TIMEOUT_S)
        report = out.decode("utf-8", "replace")
        assert proc.returncode == 0, report[-6000:]
        counts = re.search(r"(\d+) generated, (\d+) passed\s*$", report, re.MULTILINE)
        assert counts is not None and counts[1] == counts[2], report[-6000:]
        assert int(counts[1]) > 100, report[-6000:]
