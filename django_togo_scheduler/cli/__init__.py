"""The subcommands of ``manage.py scheduler``, one module per group.

``base`` holds the parser and output helpers; ``schedules`` (list, pause,
resume, next), ``manual`` (trigger, run), ``runs`` (runs, prune) and ``health``
(status, explain) each add their parsers and handle their subcommands. Imported only by the
management command, once Django is set up.
"""
