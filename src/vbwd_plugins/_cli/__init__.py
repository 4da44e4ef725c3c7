"""The implementation of the ``vbwd-plugins`` command (entry point: ``vbwd_plugins.cli``)."""
