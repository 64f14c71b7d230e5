"""The ground floor: settings, metric objects, the error tree and window arithmetic.

Nothing here imports another CX Pulse package (tests/unit/test_layering.py checks it).
"""
