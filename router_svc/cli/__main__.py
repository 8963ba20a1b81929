"""``python -m router_svc.cli``: the same as the ``router-svc`` command."""

from router_svc.cli.main import app

app()
