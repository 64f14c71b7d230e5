"""Clients of the API: programs that post CloudEvents to ``POST /v1/events`` over HTTP.

``simulator`` (a seeded contact-centre traffic generator; its tenant
``profiles``, ``incidents`` and ``times`` helpers), ``simulate`` (``cxpulse
simulate`` and the demo traffic: the simulator driven in real time through
the API) and ``replay`` (``cxpulse replay``: historical files through the
API). Nothing in the pipeline imports them.
"""
