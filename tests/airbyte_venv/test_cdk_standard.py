"""airbyte-cdk's standard source tests (spec, check, discovery, basic read) on `source-mega`.

The suite drives an in-process `Source`; `SourceMegaProcess` is a thin wrapper that
runs the real `source-mega` executable for each command and hands back its parsed
messages, so the suite judges exactly what Airbyte would receive.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import typing as t
from pathlib import Path

import pytest
from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteStateMessageSerializer,
    ConfiguredAirbyteCatalogSerializer,
    ConnectorSpecification,
    Status,
    Type,
)
from airbyte_cdk.sources.source import Source
from airbyte_cdk.test.models import ConnectorTestScenario
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase

from tap_mega.testing.emulator import MegaEmulator
from tests.helpers.airbyte_venv import SOURCE_MEGA

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Iterator, Mapping

    from airbyte_cdk.models import AirbyteStateMessage, ConfiguredAirbyteCatalog

# The suite builds its scenarios at collection time, but reads each scenario's
# config file only when a test runs: the scenarios name these files, and the
# class-scoped fixture below starts the emulator and writes them first.
CONNECTOR_ROOT = Path(tempfile.mkdtemp(prefix="tap-mega-cdk-")) / "source-mega"
GOOD_CONFIG = CONNECTOR_ROOT / "config.json"
WRONG_TOKEN_CONFIG = CONNECTOR_ROOT / "wrong_token_config.json"


def run(
    command: str, config: Mapping[str, t.Any] | None = None, **files: t.Any
) -> list[AirbyteMessage]:
    """`source-mega <command>` with JSON files for its inputs; its messages."""
    scratch = Path(tempfile.mkdtemp(prefix="source-mega-"))
    args = [str(SOURCE_MEGA), command]
    for name, value in {"config": config, **files}.items():
        if value is not None:
            (scratch / f"{name}.json").write_text(json.dumps(value))
            args += [f"--{name}", str(scratch / f"{name}.json")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    return [AirbyteMessageSerializer.load(json.loads(line)) for line in done.stdout.splitlines()]


def only(messages: list[AirbyteMessage], kind: Type) -> AirbyteMessage:
    [message] = [m for m in messages if m.type == kind]
    return message


class SourceMegaProcess(Source):
    """The cdk's `Source` interface, answered by the `source-mega` executable."""

    def spec(self, _logger: logging.Logger) -> ConnectorSpecification:
        spec = only(run("spec"), Type.SPEC).spec
        assert spec is not None
        return spec

    def check(
        self,
        _logger: logging.Logger,
        config: Mapping[str, t.Any],
    ) -> AirbyteConnectionStatus:
        messages = run("check", config)
        statuses = [m.connectionStatus for m in messages if m.type == Type.CONNECTION_STATUS]
        if not statuses:
            return AirbyteConnectionStatus(status=Status.FAILED, message="no CONNECTION_STATUS")
        assert statuses[0] is not None
        return statuses[0]

    def discover(self, _logger: logging.Logger, config: Mapping[str, t.Any]) -> AirbyteCatalog:
        catalog = only(run("discover", config), Type.CATALOG).catalog
        assert catalog is not None
        return catalog

    def read(
        self,
        _logger: logging.Logger,
        config: Mapping[str, t.Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None = None,
    ) -> Iterator[AirbyteMessage]:
        yield from run(
            "read",
            config,
            catalog=ConfiguredAirbyteCatalogSerializer.dump(catalog),
            state=[AirbyteStateMessageSerializer.dump(message) for message in state or []],
        )


class TestSourceMegaStandard(SourceTestSuiteBase):
    """The cdk's suite, pointed at the emulator."""

    connector = SourceMegaProcess

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def emulator_configs(cls) -> Iterator[None]:
        """Start the emulator and write the scenarios' config files, before any test."""
        with MegaEmulator(n_leads=120, seed=11, rate_windows=[]) as emulator:
            config = {
                "token": emulator.token,
                "customer_id": emulator.customer_id,
                "api_url": emulator.url,
            }
            CONNECTOR_ROOT.mkdir(parents=True, exist_ok=True)
            GOOD_CONFIG.write_text(json.dumps(config))
            WRONG_TOKEN_CONFIG.write_text(json.dumps({**config, "token": "mega_" + "0" * 64}))
            yield

    @classmethod
    def get_connector_root_dir(cls) -> Path:
        return CONNECTOR_ROOT

    @classmethod
    def get_scenarios(cls) -> list[ConnectorTestScenario]:
        # A config file, not `config_dict`: the cdk cannot name a scenario built from a dict.
        return [
            ConnectorTestScenario(config_path=GOOD_CONFIG),
            ConnectorTestScenario(config_path=WRONG_TOKEN_CONFIG, status="failed"),
        ]

    # The image variants need a Docker engine and an Airbyte-monorepo metadata.yaml;
    # neither exists here. tests/test_airbyte.py checks the Dockerfile instead.
    NO_DOCKER = "no Docker engine: the image is not built here"

    def test_docker_image_build_and_spec(self) -> None:
        pytest.skip(self.NO_DOCKER)

    def test_docker_image_spec_backward_compatibility(self) -> None:
        pytest.skip(self.NO_DOCKER)

    def test_docker_image_build_and_check(self) -> None:
        pytest.skip(self.NO_DOCKER)

    def test_docker_image_build_and_config_matches_spec(self) -> None:
        pytest.skip(self.NO_DOCKER)

    def test_docker_image_build_and_discover(self) -> None:
        pytest.skip(self.NO_DOCKER)

    def test_docker_image_build_and_read(self) -> None:
        pytest.skip(self.NO_DOCKER)
