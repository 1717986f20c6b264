"""Many MEGA accounts on Dagster: one partition, schedule slot, bookmark and schema per account.

Install with the `fleet` extra. Modules, lowest first: `accounts` (the file),
`tapoutput` (what a run printed), `runner` (one account's `meltano run`),
`settings`, `processes` (a command in its own process group, stopped whole),
`definitions` (the Dagster code location), `command` (the CLI).
"""
