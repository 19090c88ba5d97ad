"""Runners that drive the core without Kafka: the embedded demo job (`platestream run`) and `platestream replay`."""
