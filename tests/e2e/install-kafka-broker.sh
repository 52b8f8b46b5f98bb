#!/usr/bin/env bash
# Installs what the real-broker end-to-end test (tests/e2e/kafka_broker.sh) runs against:
#   - Tansu (https://tansu.io), an Apache Kafka compatible broker, from crates.io: Apache
#     Kafka and Redpanda are not packaged by Debian, PyPI or npm, the registries this kind of
#     machine reaches; Tansu speaks the Kafka protocol (consumer groups, offset commits,
#     produce/fetch) to librdkafka like any broker. Built once into target/tools, unoptimised (about 4
#     minutes cold on 2 cores, against 10 for a release build; the test's traffic is small);
#     `dynostore` is the feature of its in-memory storage.
#   - confluent-kafka, from PyPI (pinned in tests/e2e/requirements.txt), into the virtualenv
#     target/tools/venv: the test's own Kafka client, independent of vigil's rdkafka, that
#     writes the test's input and reads vigil's output topics (tests/e2e/kafka_io.py).
# Idempotent: installs only what is missing. Prints the versions.
set -euo pipefail
cd "$(dirname "$0")/../.."

tools=$PWD/target/tools
tansu=$tools/bin/tansu
if [[ ! -x $tansu ]]; then
  echo "install-kafka-broker: building tansu 0.6.0 into $tools" >&2
  cargo install --quiet --locked --debug tansu --version 0.6.0 --features dynostore \
    --root "$tools" --target-dir "$tools/build"
  rm -rf "$tools/build"
fi

venv=$tools/venv
if ! "$venv/bin/python" -c 'import confluent_kafka' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet -r tests/e2e/requirements.txt
fi

printf 'tansu: '; "$tansu" --version 2>&1 | head -n 1
"$venv/bin/python" -c 'import confluent_kafka as c; v = c.version(); print("confluent-kafka", v[0] if isinstance(v, tuple) else v, "(librdkafka", c.libversion()[0] + ")")'
