"""The Typer command-line app: the only place that imports typer and rich."""
