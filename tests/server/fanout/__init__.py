"""Tests of preau/server/live/ (the fan-out below the services). Not named ``live``:
tests/server/live.py is the end-to-end server harness."""
