"""A plain Singer SDK tap for MEGA leads: every SDK default, only what paging needs.

The comparison point for budget efficiency: `RESTStream` with its default
`validate_response` (429 is retriable) and default backoff (expo, 5 tries).
"""

from __future__ import annotations

import typing as t

from singer_sdk import RESTStream, Tap
from singer_sdk import typing as th
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.pagination import JSONPathPaginator

from tap_mega.streams.schema import LEAD_SCHEMA


class PlainLeads(RESTStream[t.Any]):
    name = "leads"
    path = "/api/agents/crm/leads"
    primary_keys = ("id",)
    records_jsonpath = "$.leads[*]"
    schema = LEAD_SCHEMA

    @property
    def url_base(self) -> str:
        return str(self.config["api_url"])

    @property
    def authenticator(self) -> BearerTokenAuthenticator:
        return BearerTokenAuthenticator(token=self.config["token"])

    @property
    def http_headers(self) -> dict[str, str]:
        return {"x-customer-id": self.config["customer_id"]}

    def get_new_paginator(self) -> JSONPathPaginator:
        return JSONPathPaginator("$.next_cursor")

    def get_url_params(self, context: t.Any, next_page_token: t.Any) -> dict[str, t.Any]:  # noqa: ARG002
        params: dict[str, t.Any] = {"limit": 100, "sort_by": "updated_at", "sort_dir": "asc"}
        if next_page_token:
            params["cursor"] = next_page_token
        return params


class PlainTap(Tap):
    name = "tap-plain-mega"
    config_jsonschema = th.PropertiesList(
        th.Property("token", th.StringType, required=True),
        th.Property("customer_id", th.StringType, required=True),
        th.Property("api_url", th.StringType, required=True),
    ).to_dict()

    def discover_streams(self) -> list[PlainLeads]:
        return [PlainLeads(self)]


if __name__ == "__main__":
    PlainTap.cli()
