"""Load scenarios for Préau and their runner (see loadtests/README.md).

Results go to docs/benchmarks.md. Nothing here is imported by the server.
"""
