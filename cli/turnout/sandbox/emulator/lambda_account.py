"""Lambda's GetAccountSettings, which moto does not implement (it answers 404).

`GET /2016-08-19/account-settings` signed for `lambda` is answered here from moto's own Lambda
backend of the caller's account and region: the account's concurrency limit (1,000 concurrent
executions, Lambda's default quota: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)
minus what its functions reserve, as AWS computes `UnreservedConcurrentExecutions`
(https://docs.aws.amazon.com/lambda/latest/api/API_GetAccountSettings.html). turnout's plan
reads it to check the replicator's reserved concurrency before Terraform runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

PATH = "/2016-08-19/account-settings"
DEFAULT_CONCURRENCY = 1000
# Lambda's default code storage quota (75 GB) and package size limits (250 MB unzipped,
# 50 MB zipped for direct upload): https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
TOTAL_CODE_SIZE = 75 * 1024**3
CODE_SIZE_UNZIPPED = 250 * 1024**2
CODE_SIZE_ZIPPED = 50 * 1024**2


def account_settings(account_id: str, region: str) -> dict:
    from moto.awslambda.models import lambda_backends

    # moto's own switch for the quota it enforces (MOTO_LAMBDA_CONCURRENCY_QUOTA); AWS's default
    limit = int(os.environ.get("MOTO_LAMBDA_CONCURRENCY_QUOTA") or DEFAULT_CONCURRENCY)
    functions = list(lambda_backends[account_id][region].list_functions())
    reserved = sum(int(fn.reserved_concurrency or 0) for fn in functions)
    return {
        "AccountLimit": {
            "TotalCodeSize": TOTAL_CODE_SIZE,
            "CodeSizeUnzipped": CODE_SIZE_UNZIPPED,
            "CodeSizeZipped": CODE_SIZE_ZIPPED,
            "ConcurrentExecutions": limit,
            "UnreservedConcurrentExecutions": limit - reserved,
        },
        "AccountUsage": {
            "TotalCodeSize": sum(int(getattr(fn, "code_size", 0) or 0) for fn in functions),
            "FunctionCount": len(functions),
        },
    }


class AnswerAccountSettings:
    """WSGI wrapper: GetAccountSettings is answered here, everything else goes on."""

    def __init__(self, inner: Callable[..., Iterable[bytes]]) -> None:
        self.inner = inner

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if (
            environ.get("PATH_INFO", "").rstrip("/") != PATH
            or environ.get("REQUEST_METHOD") != "GET"
        ):
            return self.inner(environ, start_response)
        from moto.iam.models import get_account_id_from

        auth = environ.get("HTTP_AUTHORIZATION", "")
        scope = (
            auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
            if "Credential=" in auth
            else []
        )
        if len(scope) < 4 or scope[3] != "lambda":
            return self.inner(environ, start_response)
        body = json.dumps(account_settings(get_account_id_from(scope[0]), scope[2])).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]
