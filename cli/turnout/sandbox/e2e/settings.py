"""Where the end-to-end run happens: two real accounts named by environment variables, or the
local emulator. A run on AWS refuses to start, in one paragraph, without all of them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from turnout.errors import TurnoutError
from turnout.spec.names import role_arn

ACCOUNT = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
ROLE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[A-Za-z0-9_+=,.@/-]{1,512}$")

# The emulator's accounts: the spec's two and a third one that only the producer uses.
EMULATOR_OLD, EMULATOR_NEW, EMULATOR_PRODUCER = "111111111111", "222222222222", "333333333333"
EMULATOR_REGION = "eu-west-1"
EMULATOR_PRODUCER_ROLE = role_arn(EMULATOR_PRODUCER, "e2e-producer")

VARIABLES = {
    "TURNOUT_E2E_OLD_ACCOUNT": "the old environment's 12-digit account id",
    "TURNOUT_E2E_NEW_ACCOUNT": "the new environment's 12-digit account id, another account",
    "TURNOUT_E2E_REGION": "the region of both environments, e.g. eu-west-1",
    "TURNOUT_E2E_OLD_ROLE_ARN": "a role in the old account that your credentials may assume, "
    "allowed what Terraform's deploy role does",
    "TURNOUT_E2E_NEW_ROLE_ARN": "the same in the new account",
}


@dataclass(frozen=True)
class E2eSettings:
    old_account: str
    new_account: str
    region: str
    old_role_arn: str | None  # None on the emulator (it needs no deploy role)
    new_role_arn: str | None
    producer_role_arn: str  # the producer's identity: declared in the spec's producers
    emulator: bool = False

    @classmethod
    def for_emulator(cls) -> E2eSettings:
        return cls(
            EMULATOR_OLD, EMULATOR_NEW, EMULATOR_REGION, None, None, EMULATOR_PRODUCER_ROLE, True
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> E2eSettings:
        """The run on AWS, from TURNOUT_E2E_*; one paragraph naming what is missing or wrong."""
        values = {name: environ.get(name, "").strip() for name in VARIABLES}
        problems = [f"{name} ({what})" for name, what in VARIABLES.items() if not values[name]]
        if problems:
            raise TurnoutError(
                "make e2e-aws runs the sandbox pipeline and a full cutover in two real AWS "
                f"accounts and needs: {'; '.join(problems)}. Optional: TURNOUT_E2E_PRODUCER_ROLE_ARN "
                "(the producer's role, ideally in a third account; default: the old role). "
                "Nothing was started or created. To run the same script on the local emulator: "
                "make e2e-emulator."
            )
        producer = environ.get("TURNOUT_E2E_PRODUCER_ROLE_ARN", "").strip()
        settings = cls(
            values["TURNOUT_E2E_OLD_ACCOUNT"],
            values["TURNOUT_E2E_NEW_ACCOUNT"],
            values["TURNOUT_E2E_REGION"],
            values["TURNOUT_E2E_OLD_ROLE_ARN"],
            values["TURNOUT_E2E_NEW_ROLE_ARN"],
            producer or values["TURNOUT_E2E_OLD_ROLE_ARN"],
        )
        settings.check()
        return settings

    def check(self) -> None:
        wrong = []
        for name, value in (("OLD_ACCOUNT", self.old_account), ("NEW_ACCOUNT", self.new_account)):
            if not ACCOUNT.match(value):
                wrong.append(f"TURNOUT_E2E_{name} {value!r} is not 12 digits")
        if self.old_account == self.new_account:
            wrong.append("TURNOUT_E2E_OLD_ACCOUNT and TURNOUT_E2E_NEW_ACCOUNT are the same account")
        if not REGION.match(self.region):
            wrong.append(f"TURNOUT_E2E_REGION {self.region!r} is not a region such as eu-west-1")
        for name, role, account in (
            ("OLD_ROLE_ARN", self.old_role_arn, self.old_account),
            ("NEW_ROLE_ARN", self.new_role_arn, self.new_account),
        ):
            found = ROLE.match(role or "")
            if not found or found.group(1) != account:
                wrong.append(f"TURNOUT_E2E_{name} {role!r} is not a role ARN of account {account}")
        if not ROLE.match(self.producer_role_arn):
            wrong.append(
                f"TURNOUT_E2E_PRODUCER_ROLE_ARN {self.producer_role_arn!r} is not a role ARN"
            )
        if wrong:
            raise TurnoutError(
                f"make e2e-aws cannot start: {'; '.join(wrong)}. Nothing was started or created."
            )

    @property
    def producer_account(self) -> str:
        return self.producer_role_arn.split(":")[4]

    def describe(self) -> str:
        where = "the local emulator" if self.emulator else "AWS"
        return (
            f"{where}: old {self.old_account}, new {self.new_account} in {self.region}; "
            f"producer {self.producer_role_arn}"
        )
