"""Route 53 answers an API with the weights the posture set: the new endpoint's record has
`new_weight` percent of the answers, the old one the rest (ListResourceRecordSets)."""

from __future__ import annotations

from turnout.apis.records import api_of, new_share, weighted_records
from turnout.hooks import Hook, HookArgs, HookContext, HookFailed


class VerifyApiWeights(Hook):
    name = "verify_api_weights"

    class Args(HookArgs):
        api: str
        new_weight: int

    def run(self, context: HookContext) -> dict:
        index, api = api_of(context.spec, self.args.api)
        records = weighted_records(context.client(api.environment, "route53"), api, index)
        share = new_share(records)
        data = {"api": api.name, "record": api.record, "records": records, "new_share": share}
        if share != self.args.new_weight:
            weights = {env: record["weight"] for env, record in records.items()}
            raise HookFailed(
                f"API '{api.name}' (apis[{index}]): Route 53 answers '{api.record}' with weights "
                f"{weights or 'none (no record)'}, so the new endpoint gets "
                f"{'no defined share' if share is None else f'{share}%'} of the answers, not "
                f"{self.args.new_weight}%; apply the {api.environment} environment's Terraform "
                "for this step (turnout cutover resumes there)."
            )
        return data
