"""The ``TOGO_SCHEDULER`` setting: every key, its type and its default.

Values are read from ``django.conf.settings`` each time they are used, so
``override_settings`` and the ``settings`` test fixture just work.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

SETTING_NAME = "TOGO_SCHEDULER"

DEFAULTS: dict[str, Any] = {
    # django-rq queue name; None (or a name no queue has) runs jobs inline.
    "QUEUE": "default",
    # zone for cron specs; None means settings.TIME_ZONE.
    "TIMEZONE": None,
    # declarative schedules: {name: spec} or {name: {"spec": ..., **options}}.
    "SCHEDULE": {},
    # module imported from every installed app in AppConfig.ready; None disables.
    "AUTODISCOVER": "jobs",
    # finished runs older than this are pruned by runscheduler and `scheduler prune`.
    "RUN_RETENTION": "30d",
    # a restarted scheduler catches up slots at most this far back; None = no limit.
    "CATCHUP_WINDOW": "7d",
    # a slot older than this when a tick first sees it was missed (downtime:
    # no scheduler ticked); the schedule's catch-up policy decides its fate.
    "MISFIRE_GRACE": "10s",
    # threads of the inline dispatcher's pool.
    "INLINE_WORKERS": 4,
    # the longest runscheduler sleeps between ticks, in seconds.
    "MAX_SLEEP": 1.0,
    # a run whose executing process stopped heartbeating this long ago is failed
    # (seconds); heartbeats come every STALE_AFTER / 3, so a dead worker's run is
    # failed 16-27 s after the worker died while a scheduler runs.
    "STALE_AFTER": 25,
}


class Settings:
    """Typed access to the keys of ``settings.TOGO_SCHEDULER`` with their defaults."""

    @staticmethod
    def _user() -> dict[str, Any]:
        # A setting of the wrong type reads as empty here; check E001 reports it.
        user = getattr(settings, SETTING_NAME, None)
        return user if isinstance(user, dict) else {}

    def _get(self, key: str) -> Any:
        return self._user().get(key, DEFAULTS[key])

    @property
    def user_keys(self) -> set[str]:
        """The keys the project set, to warn about unknown ones."""
        return set(self._user())

    @property
    def QUEUE(self) -> str | None:
        value: str | None = self._get("QUEUE")
        return value

    @property
    def TIMEZONE(self) -> str:
        value: str | None = self._get("TIMEZONE")
        return value or settings.TIME_ZONE or "UTC"

    @property
    def SCHEDULE(self) -> Any:
        return self._get("SCHEDULE")

    @property
    def AUTODISCOVER(self) -> str | None:
        value: str | None = self._get("AUTODISCOVER")
        return value

    @property
    def RUN_RETENTION(self) -> str | None:
        value: str | None = self._get("RUN_RETENTION")
        return value

    @property
    def CATCHUP_WINDOW(self) -> str | None:
        value: str | None = self._get("CATCHUP_WINDOW")
        return value

    @property
    def MISFIRE_GRACE(self) -> str:
        value: str = self._get("MISFIRE_GRACE")
        return value

    @property
    def INLINE_WORKERS(self) -> int:
        return int(self._get("INLINE_WORKERS"))

    @property
    def MAX_SLEEP(self) -> float:
        return float(self._get("MAX_SLEEP"))

    @property
    def STALE_AFTER(self) -> float:
        return float(self._get("STALE_AFTER"))


app_settings = Settings()
