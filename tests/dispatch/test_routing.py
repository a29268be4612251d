"""Routing helpers of ``dispatch``: which django-rq queues are configured."""

from __future__ import annotations

from django_togo_scheduler.dispatch import configured_queues, rq_queue_configured


def test_configured_queues__sorted_names_of_rq_queues(settings):
    settings.RQ_QUEUES = {"low": {}, "default": {}, "high": {}}

    assert configured_queues() == ["default", "high", "low"]
    assert all(rq_queue_configured(name) for name in configured_queues())
    assert not rq_queue_configured("hihg")


def test_configured_queues__none_without_django_rq_or_rq_queues(settings, monkeypatch):
    from django.apps import apps

    settings.RQ_QUEUES = None
    assert configured_queues() == []

    settings.RQ_QUEUES = {"default": {}}
    monkeypatch.setattr(apps, "is_installed", lambda name: name != "django_rq")
    assert configured_queues() == []
    assert not rq_queue_configured("default")
