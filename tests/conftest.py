"""Test-suite wide settings: how pytest-xdist shares the tests between workers.

CI runs ``pytest -n 2 --dist loadgroup`` on a 2-core machine. Each test module is one
group (its module-scoped fixtures - fits, simulated runs - are computed once, on one
worker), except modules that declare a group of their own: the study modules sharing the
session's quick runs (``tests/twin/conftest.py``) run together, so each quick run is
computed once. Without xdist (a plain ``pytest``) the marks are inert.
"""

import pytest


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
