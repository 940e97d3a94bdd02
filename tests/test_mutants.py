"""Tests that kill mutants the rest of the suite let survive (issue 9.11, `tox -e mutants`).

Each names the function and the mutation it kills; docs/testing.md lists the run's results.
"""
