"""The HTTP gateway: the door for case systems and partners that cannot run a Kafka client.

Each caller is a tenant, known from its bearer token (never from the request body); each accepted
request becomes the contract's event on that tenant's own inbound topic, where the services read
it exactly as if the tenant had published it over Kafka.
"""
