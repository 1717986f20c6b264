# tap-mega as an Airbyte custom source: `source-mega` speaks the Airbyte protocol.
# Build: docker build -t source-mega:0.1.0 .   (then add it in Airbyte as a custom connector)
FROM python:3.11-slim

LABEL io.airbyte.name="source-mega"
LABEL io.airbyte.version="0.1.0"

WORKDIR /airbyte/integration_code
COPY pyproject.toml README.md ./
# The versions CI tests (.ci/locks/dev.txt, what dev.py installs), not whatever
# PyPI holds on the day the image is built.
COPY .ci/locks/dev.txt ./constraints.txt
COPY tap_mega ./tap_mega
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --uid 1000 --no-create-home airbyte

USER airbyte
ENV AIRBYTE_ENTRYPOINT="source-mega"
ENTRYPOINT ["source-mega"]
