"""dlt's `rest_api` source with its cursor paginator, extracting MEGA leads.

Runs `pipeline.extract()`: dlt's own work on every record (its extract step
writes them to local files) without a destination's load time. Every retry
setting is dlt's default. Prints `records=N` last on stderr.

Usage: dlt_rest_api.py CONFIG_JSON   (needs the benchmark venv, see harness.py)
"""

from __future__ import annotations

import json
import sys
import tempfile

import dlt
from dlt.sources.rest_api import rest_api_source


def main() -> None:
    config = json.loads(open(sys.argv[1]).read())  # noqa: PTH123, SIM115
    source = rest_api_source(
        {
            "client": {
                "base_url": config["api_url"],
                "auth": {"type": "bearer", "token": config["token"]},
                "headers": {"x-customer-id": config["customer_id"]},
                "paginator": {
                    "type": "cursor",
                    "cursor_path": "next_cursor",
                    "cursor_param": "cursor",
                },
            },
            "resources": [
                {
                    "name": "leads",
                    "endpoint": {
                        "path": "/api/agents/crm/leads",
                        "params": {"limit": 100, "sort_by": "updated_at", "sort_dir": "asc"},
                        "data_selector": "leads",
                    },
                    "primary_key": "id",
                }
            ],
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = dlt.pipeline(pipeline_name="mega_bench", pipelines_dir=tmp, destination="duckdb")
        info = pipeline.extract(source)
        counts = info.metrics[info.loads_ids[0]][0]["table_metrics"]
        records = sum(m.items_count for name, m in counts.items() if name == "leads")
    print(f"records={records}", file=sys.stderr)


if __name__ == "__main__":
    main()
