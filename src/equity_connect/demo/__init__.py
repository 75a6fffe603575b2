"""The end-to-end demo that ``make run`` runs."""

from equity_connect.demo.pipeline import run_demo

__all__ = ["run_demo"]
