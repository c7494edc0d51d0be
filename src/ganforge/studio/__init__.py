"""The studio: a web page and a REST API over the service layer, with jobs, batches, API keys and
usage limits (``ganforge serve``; ``ganforge worker`` for Celery workers on other machines).

``store.py`` (SQLite: keys, sessions, uploads, jobs, items), ``runner.py`` (a job's items through
``service.tools``), ``queues/`` (local threads or Celery + Redis), ``auth.py`` (keys, sessions,
limits), ``app.py`` (the FastAPI application), ``routes/`` (one router per resource) and
``static/`` (the page: plain HTML, CSS and JavaScript, no build step).
"""
