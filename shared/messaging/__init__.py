"""Kafka plumbing the services share: consuming with guarantees, the outbox relay, dead letters."""
