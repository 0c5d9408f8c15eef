"""``/swarm`` commands: text to a typed intent, and the checks against the tool catalog. No I/O."""

from bot.commands.errors import CommandError
from bot.commands.model import (
    CancelJob,
    Command,
    Help,
    JobStatus,
    ListTools,
    ListWorkers,
    Login,
    RetryJob,
    RunTool,
    Subcommand,
)
from bot.commands.parse import MAX_ARGUMENTS, MAX_COMMAND_CHARS, normalize_job_ref, parse_command
from bot.commands.tools import ToolInfo, tool_usage
from bot.commands.usage import GENERAL_USAGE, USAGE, help_text
from bot.commands.validate import argument_problems, validate_tool_call
from bot.commands.values import format_arguments

__all__ = [
    "GENERAL_USAGE",
    "MAX_ARGUMENTS",
    "MAX_COMMAND_CHARS",
    "USAGE",
    "CancelJob",
    "Command",
    "CommandError",
    "Help",
    "JobStatus",
    "ListTools",
    "ListWorkers",
    "Login",
    "RetryJob",
    "RunTool",
    "Subcommand",
    "ToolInfo",
    "argument_problems",
    "format_arguments",
    "help_text",
    "normalize_job_ref",
    "parse_command",
    "tool_usage",
    "validate_tool_call",
]
