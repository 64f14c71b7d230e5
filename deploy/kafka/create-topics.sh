#!/bin/sh
# One-shot: create the CX Pulse topics with the partition count the worker shards its state by.
# Names follow schemas/records.py:topic_names(prefix). Idempotent (--if-not-exists).
set -eu
BOOTSTRAP="${BOOTSTRAP:-kafka:9092}"
PREFIX="${TOPIC_PREFIX:-cx}"
PARTITIONS="${PARTITIONS:-4}"
# Durability of what the API acknowledged (docs/operations.md): on a cluster of >= 3 brokers
# use REPLICATION_FACTOR=3 and MIN_INSYNC_REPLICAS=2; the compose stack has one broker (1 and 1).
REPLICATION_FACTOR="${REPLICATION_FACTOR:-1}"
MIN_INSYNC_REPLICAS="${MIN_INSYNC_REPLICAS:-1}"
for topic in touchpoints.v1 survey-responses.v1 survey-invitations.v1 signals.v1 outcomes.v1 events.raw events.dlq notifications.v1 erasures.v1; do
  /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
    --topic "$PREFIX.$topic" --partitions "$PARTITIONS" --replication-factor "$REPLICATION_FACTOR" \
    --config "min.insync.replicas=$MIN_INSYNC_REPLICAS" --config unclean.leader.election.enable=false
done
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --list
