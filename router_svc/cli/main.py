"""The `router-svc` command line."""

from __future__ import annotations

import typer

from router_svc.cli.bench import bench
from router_svc.cli.config_commands import config_app
from router_svc.cli.demo import demo
from router_svc.cli.experts import experts_app, generate
from router_svc.cli.pipeline_commands import profile, route, run, skills_app
from router_svc.cli.serve import serve
from router_svc.cli.worker import worker

app = typer.Typer(
    help="router-svc: a training-free, skill-based router over a pool of expert LLMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(experts_app, name="experts")
app.add_typer(skills_app, name="skills")
app.add_typer(config_app, name="config")
app.command("generate")(generate)
app.command("profile")(profile)
app.command("route")(route)
app.command("run")(run)
app.command("demo")(demo)
app.command("bench")(bench)
app.command("serve")(serve)
app.command("worker")(worker)
