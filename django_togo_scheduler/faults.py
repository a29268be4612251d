"""The one fault hook: named points where a harness makes a process fail on purpose.

``bench/chaos.py`` kills processes in narrow windows to prove that nothing
recorded is lost and no slot fires twice. Each window is a point named here,
and the code calls :func:`point` there:

``insert``   in the claim's transaction, ``next_run_at`` advanced, the runs of
             its slots not inserted yet (subject: the runs);
``enqueue``  in the RQ dispatcher, the runs committed as dispatched, nothing in
             Redis yet (subject: the runs);
``start``    in :func:`~django_togo_scheduler.execution.execute_run`, before the
             run is marked running (subject: the run's id).

No production process installs a hook: a point then costs one global lookup.
This is not a public API; ``bench/chaos_app`` is its one user.
"""

from __future__ import annotations

from collections.abc import Callable

POINTS = ("insert", "enqueue", "start")

FaultHook = Callable[[str, object], None]  # (point, subject)

_hook: FaultHook | None = None


def install(hook: FaultHook | None) -> None:
    """Call ``hook(point, subject)`` at every point from now on (None: no hook)."""
    global _hook
    _hook = hook


def point(name: str, subject: object) -> None:
    """A named fault point: the installed hook, if any, decides what happens."""
    if _hook is not None:
        _hook(name, subject)
