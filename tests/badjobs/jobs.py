"""Declarations that are wrong: found by autodiscovery, reported by the checks."""

from __future__ import annotations

from django_togo_scheduler import job


@job("badjobs.typo", schedule="0 25 * * *")
def typo(ctx):
    pass


@job("badjobs.zone", schedule="@daily", timezone="Moon/Base")
def zone(ctx):
    pass
