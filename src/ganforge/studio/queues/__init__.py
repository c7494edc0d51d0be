"""Where jobs run: ``local`` (worker threads in the server, the default) or ``celery`` (workers on
any number of machines through a Redis broker). Both take jobs from the store's queue and report
through ``runner.execute``'s sink, so the API cannot tell them apart."""

from .base import JobQueue, StoreSink, job_spec
from .factory import make_queue

__all__ = ["JobQueue", "StoreSink", "job_spec", "make_queue"]
