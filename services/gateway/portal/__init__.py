"""The portal: web pages for the people who do the work, served by the gateway, in Swedish.

People log in at the identity provider; the portal knows their organisation (the tenant) and
role only from the token it exchanged for them, never from a form. What a page shows is the
organisation's own scoped stream, nothing more; what a form sends goes through the same
submission as the API, with the same checks and idempotency.
"""
