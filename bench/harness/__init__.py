"""What the benchmarks share: set-up, processes, timers, result rows.

``db``           the throwaway databases: PostgreSQL created and dropped, SQLite
                 files removed, migrated; ``ANALYZE``; counting statements
``redis_server`` a redis-server of a run's own on a spare port; RQ's
                 ``enqueue_many`` floor
``procs``        starting, stopping and killing processes; /proc; timing a
                 process's start-up (``measure_startup``)
``timing``       percentiles, summaries, stopwatches, timed calls
``rows``         result rows: ``RESULT`` lines, JSON lines, tables
``schedules``    the mixed schedules the idle benchmarks create
``tick_steps``   ``engine.tick()``'s steps run one by one, each timed

Every module imports only the standard library at import time (Django, psycopg
and redis inside the functions that need them): the peers' scripts, which run
in virtualenvs of their own and never import django_togo_scheduler, use
``timing``, ``rows`` and ``procs`` through ``bench/peers/peerlib.py``.
"""
