"""What an afk tick costs in requests, wall time and memory, and how that grows with the fleet.

Run ``python -m benchmarks`` (``--quick`` for a smaller run); see ``benchmarks/README.md`` for a
recorded run and what each row means for someone running afk against a rate-limited forge.
"""
