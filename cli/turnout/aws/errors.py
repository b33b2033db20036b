"""What an AWS error is called: the one helper every reader of a ClientError uses."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

# Errors of a read that proves nothing either way (the caller reports "unknown", never a verdict).
READ_ERRORS = (ClientError, BotoCoreError)


def error_code(problem: ClientError) -> str:
    return problem.response.get("Error", {}).get("Code", "")


def error_message(problem: ClientError) -> str:
    return problem.response.get("Error", {}).get("Message", "")
