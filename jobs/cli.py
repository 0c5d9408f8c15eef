"""Subcommands of the job path: agent, chat, workers."""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``agent``, ``chat`` and ``workers`` on the ``garageswarm`` parser."""
