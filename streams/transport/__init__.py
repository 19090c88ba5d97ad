"""Kafka adapters: topic declarations and admin, confluent-kafka producers, the Faust stream worker."""
