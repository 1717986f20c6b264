"""The floor for a Python client: HTTP requests, `json` parsing, records out as JSON lines.

No validation, no state, no schema: what any tap must at least do. Prints
`records=N` last on stderr.

Usage: baseline_client.py CONFIG_JSON
"""

from __future__ import annotations

import json
import sys

import requests


def main() -> None:
    config = json.loads(open(sys.argv[1]).read())  # noqa: PTH123, SIM115
    session = requests.Session()
    session.headers.update(
        {"Authorization": f"Bearer {config['token']}", "x-customer-id": config["customer_id"]}
    )
    url = config["api_url"] + "/api/agents/crm/leads"
    params: dict[str, object] = {"limit": 100, "sort_by": "updated_at", "sort_dir": "asc"}
    out = sys.stdout
    records = 0
    while True:
        body = json.loads(session.get(url, params=params, timeout=60).content)
        for lead in body["leads"]:
            out.write(json.dumps(lead) + "\n")
        records += len(body["leads"])
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    print(f"records={records}", file=sys.stderr)


if __name__ == "__main__":
    main()
