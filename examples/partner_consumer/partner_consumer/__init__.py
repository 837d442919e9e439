"""An example partner system for Insats: reads the partner's placement stream into a roster and
reports back. See ../README.md."""
