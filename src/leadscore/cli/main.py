"""Entry point: the typer app and the commands registered on it.

Errors leadscore raises on purpose are printed as one clear message and an
exit code (2 for configuration, 1 for data); only bugs show a traceback.
"""

from __future__ import annotations

from importlib.metadata import version

import typer

from leadscore.cli import check, console, daemon, demo, evaluate, history, offline, operate, people, preview, sync

app = typer.Typer(
    name="leadscore",
    help="Lead scoring for your CRM and marketing platforms: one model, explained, written back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"leadscore {version('leadscore')}")
        raise typer.Exit()


@app.callback()
def main(
    show_version: bool = typer.Option(
        False, "--version", help="Print leadscore's version and exit.", is_eager=True, callback=_print_version
    ),
) -> None:
    """Lead scoring for your CRM and marketing platforms: one model, explained, written back."""


app.command("validate")(offline.validate)
app.command("score")(offline.score)
app.command("explain")(offline.explain)
app.command("backtest")(evaluate.backtest)
app.command("calibrate")(evaluate.calibrate)
app.command("plan")(preview.plan)
app.command("person")(people.person)
app.command("history")(history.history)
app.command("runs")(operate.runs)
app.command("check")(check.check)
app.add_typer(operate.state_app, name="state")
app.command("sync")(sync.sync)
app.command("sandbox")(sync.sandbox)
app.command("demo")(demo.demo)
app.command("run")(daemon.run)
app.command("console")(console.console)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
config_app.command("show")(daemon.config_show)
app.add_typer(config_app, name="config")
