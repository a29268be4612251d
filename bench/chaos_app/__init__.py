"""The project app of the chaos harness (``bench/chaos.py``): its jobs and its crash hooks.

Nothing here is part of django-togo-scheduler: the hooks that stop a scheduler in
the narrow windows live in this app's ``ready()`` and cost nothing in production.
"""
