"""An app whose jobs module declares an invalid spec and an unknown zone.

Only ``tests.settings_badjobs`` installs it: the subprocess tests show that such
declarations are system check errors, not tracebacks at import.
"""
