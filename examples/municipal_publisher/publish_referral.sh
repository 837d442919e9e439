#!/usr/bin/env bash
# Publish one referral to Insats with kcat, and optionally wait for the answer.
#
#   ./publish_referral.sh referral.json
#
# Environment:
#   KAFKA_BOOTSTRAP_SERVERS  default 127.0.0.1:9092
#   TOPIC_PREFIX             the environment's topic prefix, if the operator gave you one
#   KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM, KAFKA_USERNAME, KAFKA_PASSWORD,
#   KAFKA_SSL_CAFILE         your Kafka user (leave unset against the local stack)
#   KCAT                     the kcat to run (default: kcat on the PATH). With SCRAM it must be
#                            linked with librdkafka 2.6.1 or later: `$KCAT -V` says which
#   EVENT_ID                 reuse the id printed by an earlier attempt when you retry
#   WAIT_SECONDS             wait this long for the answer on insats.intake.events (default 0)
#
# Exit code: 0 published (and enrolled, when waiting), 2 rejected, 3 no answer in time.
set -euo pipefail

file=${1:?usage: $0 referral.json}
bootstrap=${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}
prefix=${TOPIC_PREFIX:-}
wait_seconds=${WAIT_SECONDS:-0}
event_id=${EVENT_ID:-$(cat /proc/sys/kernel/random/uuid 2>/dev/null || uuidgen)}

# The record key is the envelope's subject (the referral id): it decides the partition, and so
# the order of everything said about this referral.
subject=$(sed -n 's/^ *"subject": *"\([^"]*\)".*/\1/p' "$file" | head -n 1)
if [[ -z $subject ]]; then
  echo "$file: no \"subject\" line" >&2
  exit 1
fi

# Your own referral topic: insats.municipality.<kommunkod>.referrals, which only your Kafka user
# may write. The kommunkod is the envelope's municipality, the first in the file.
municipality=$(sed -n 's/^ *"municipality": *"\([0-9]\{4\}\)".*/\1/p' "$file" | head -n 1)
if [[ -z $municipality ]]; then
  echo "$file: no \"municipality\" line" >&2
  exit 1
fi

# kcat sends one record per line: put the event id in and join the pretty-printed file.
value=$(sed "s/^\( *\"id\": *\)\"[^\"]*\"/\1\"$event_id\"/" "$file" | tr -d '\r\n')

kcat=${KCAT:-kcat}
kcat_args=(-b "$bootstrap")
if [[ ${KAFKA_SECURITY_PROTOCOL:-PLAINTEXT} != PLAINTEXT ]]; then
  # In a file rather than on the command line, where other users' `ps` would show the password.
  config=$(mktemp)
  trap 'rm -f "$config"' EXIT
  chmod 600 "$config"
  {
    echo "security.protocol=${KAFKA_SECURITY_PROTOCOL}"
    if [[ $KAFKA_SECURITY_PROTOCOL == SASL_* ]]; then
      echo "sasl.mechanisms=${KAFKA_SASL_MECHANISM:-SCRAM-SHA-512}"
      echo "sasl.username=${KAFKA_USERNAME:?KAFKA_USERNAME is not set}"
      echo "sasl.password=${KAFKA_PASSWORD:?KAFKA_PASSWORD is not set}"
    fi
    if [[ -n ${KAFKA_SSL_CAFILE:-} ]]; then
      echo "ssl.ca.location=${KAFKA_SSL_CAFILE}"
    fi
  } >"$config"
  kcat_args+=(-F "$config")
fi
mechanism=${KAFKA_SASL_MECHANISM:-SCRAM-SHA-512}
if [[ ${KAFKA_SECURITY_PROTOCOL:-PLAINTEXT} == SASL_* && $mechanism == SCRAM-* ]]; then
  # librdkafka before 2.6.1 (Debian 12's kcat has 2.0.2) puts the client nonce twice into SCRAM's
  # last message; Kafka 4 brokers compare it strictly and answer "invalid credentials", whatever
  # the password (confluentinc/librdkafka#4895).
  librdkafka=$("$kcat" -V 2>&1 | sed -n 's/.*librdkafka \([0-9][0-9.]*\).*/\1/p' | head -n 1)
  oldest=$(printf '%s\n' 2.6.1 "$librdkafka" | sort -V | head -n 1)
  if [[ -n $librdkafka && $oldest != 2.6.1 ]]; then
    echo "warning: $kcat is linked with librdkafka $librdkafka: a Kafka 4 broker refuses its" \
      "SCRAM login (\"invalid credentials\") whatever the password. Use a kcat with" \
      "librdkafka 2.6.1 or later (KCAT=/path/to/kcat), or publish_referral.py." >&2
  fi
fi

# Answers are looked for from about now on (kcat's s@<ms> offset), not in all of history; a
# minute earlier, in case this machine's clock is ahead of the broker's.
since_ms=$((($(date +%s) - 60) * 1000))

# murmur2_random: the partition Java's and Python's clients choose for this key, so this record
# stays in order with what other publishers say about the same referral. kcat's default
# (consistent_random) would pick another partition.
printf '%s\n' "$value" | "$kcat" -P "${kcat_args[@]}" \
  -t "${prefix}insats.municipality.${municipality}.referrals" \
  -k "$subject" \
  -X partitioner=murmur2_random \
  -X enable.idempotence=true \
  -H content-type=application/cloudevents+json \
  -H "ce_id=$event_id" \
  -H ce_type=insats.referral.received.v1
echo "published $subject as event $event_id"

if ((wait_seconds <= 0)); then
  exit 0
fi

# Every answer Insats gives to this event carries its id as causationid.
deadline=$((SECONDS + wait_seconds))
while ((SECONDS < deadline)); do
  answer=$("$kcat" -C "${kcat_args[@]}" -t "${prefix}insats.intake.events" \
    -o "s@$since_ms" -e -q -f '%s\n' 2>/dev/null | grep -F "\"$event_id\"" | head -n 1 || true)
  if [[ $answer =~ \"type\":\ ?\"insats\.participant\.enrolled\.v1\" ]]; then
    echo "enrolled: $answer"
    exit 0
  elif [[ $answer =~ \"type\":\ ?\"insats\.referral\.rejected\.v[0-9]+\" ]]; then
    echo "rejected: $answer"
    exit 2
  fi
  sleep 1
done
echo "no answer on ${prefix}insats.intake.events within ${wait_seconds} s" >&2
exit 3
