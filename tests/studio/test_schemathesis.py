"""Property-based tests of the API against its own OpenAPI schema (schemathesis).

Every operation of the schema gets generated requests, valid and invalid, sent with a valid
admin key; none may answer 5xx, and every answer must be a status, content type and body the
schema documents. Examples are bounded and derandomized so the run is short and repeatable.

The application is built when this module is imported (on a temporary data dir removed at
exit), because ``schema.parametrize()`` needs the schema at collection time; schemathesis's
fixture-based loader (``schemathesis.pytest.from_fixture``) does not work with pytest 9.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402

from ganforge.studio.app import create_app  # noqa: E402
from ganforge.studio.queues import JobQueue  # noqa: E402
from ganforge.studio.settings import StudioSettings  # noqa: E402
from ganforge.studio.store import Store  # noqa: E402

from .conftest import key  # noqa: E402


class IdleQueue(JobQueue):
    """Queues jobs and never runs them: the contract is under test here, not the workers (and
    schemathesis keeps an application's lifespan running until the process exits)."""

    def threads(self) -> list:
        return []  # no worker: jobs stay queued


DATA_DIR = Path(tempfile.mkdtemp(prefix="ganforge-schemathesis-"))
atexit.register(shutil.rmtree, DATA_DIR, ignore_errors=True)
APP = create_app(StudioSettings(data_dir=DATA_DIR), queue=IdleQueue(Store(DATA_DIR)))
# An admin key reaches every route; its long name keeps generated DELETE /v1/keys/{name} away from it.
HEADERS = key(APP, "schemathesis-admin-key", rate="1000000/min", admin=True)
# A request the schema allows may still be refused for what no schema can say: an upload that
# is not a decodable image (413/415), a tool's params, or an upload id that does not exist (422).
# Those refusals are documented answers, so schema-valid requests may also get them.
# "Negative data rejected" is off: its generated invalid requests count dropping the Authorization
# header (which this test always sends, so it is never dropped) and adding unknown query
# parameters (which the API ignores, as HTTP APIs commonly do) as invalid, so a correct answer
# fails it. Invalid bodies, parameters and headers each have a 4xx test in test_jobs.py / test_auth.py.
CONFIG = schemathesis.Config.from_dict({"checks": {
    "positive_data_acceptance": {
        "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "413", "415", "422", "429"]},
    "negative_data_rejection": {"enabled": False}}})
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=15, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_answers_match_the_schema(case):
    case.call_and_validate(headers=HEADERS)
