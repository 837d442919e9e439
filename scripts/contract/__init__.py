"""The published contract, generated from the code and guarded in CI.

`insats contract generate` writes docs/contract/ from shared/contracts and the three FastStream
apps: one AsyncAPI document per service, one JSON Schema per event type and an index. `insats
contract check` fails when the committed files are stale or when the models changed a published
version incompatibly (see compatibility.py for the rules).
"""
