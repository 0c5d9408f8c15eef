"""The help text: the overview lists every subcommand's usage; a topic shows its details."""

from __future__ import annotations

from bot.commands import help_text


def test_the_overview_shows_the_usage_of_every_subcommand() -> None:
    assert help_text(None) == (
        "Usage: /swarm COMMAND [ARGUMENTS]\n"
        "\n"
        "  help [COMMAND]                             Show this help, or the help of one command.\n"
        "  tools                                      List the tools the workers offer.\n"
        "  workers                                    List the workers and whether they are online.\n"
        "  tool SERVER.TOOL [key=value ... | {JSON}]  Run a tool; its progress and result appear in this thread.\n"
        "  status JOB                                 Show the state of a job.\n"
        "  cancel JOB                                 Cancel a queued or running job.\n"
        "  retry JOB                                  Run a job that failed, timed out or was cancelled once more.\n"
        "  login                                      Link your chat account to GarageSwarm.\n"
        "\n"
        "`/swarm help COMMAND` shows the details of one command."
    )


def test_the_tool_topic_explains_values_quoting_and_the_json_form() -> None:
    assert help_text("tool") == (
        "Usage: /swarm tool SERVER.TOOL [key=value ... | {JSON}]\n"
        "\n"
        "Run a tool; its progress and result appear in this thread.\n"
        "\n"
        "Arguments are key=value pairs. A value that is valid JSON is used as JSON (numbers, true,\n"
        'false, null, objects, arrays, "quoted strings"); anything else is a plain string. Quote\n'
        "values that contain spaces as a shell would. Instead of key=value pairs you may give exactly\n"
        "one JSON object. `/swarm tools` lists the tools and their arguments.\n"
        "\n"
        "Examples:\n"
        '  /swarm tool demo.echo text="hello world"\n'
        "  /swarm tool demo.progress steps=5\n"
        '  /swarm tool demo.echo {"text": "hello"}'
    )


def test_the_job_topics_explain_job_ids() -> None:
    assert help_text("cancel") == (
        "Usage: /swarm cancel JOB\n"
        "\n"
        "Cancel a queued or running job.\n"
        "\n"
        "JOB is the job's id, or its first 6 or more hex characters when no other job starts with them.\n"
        "\n"
        "Example:\n"
        "  /swarm cancel 1b4e28ba"
    )


def test_a_topic_without_details_shows_usage_and_summary() -> None:
    assert help_text("WORKERS") == "Usage: /swarm workers\n\nList the workers and whether they are online."


def test_an_unknown_topic_suggests_a_command_and_shows_the_overview() -> None:
    assert help_text("stat") == "There is no command 'stat'; did you mean 'status'?\n\n" + help_text(None)
    assert help_text("deploy") == "There is no command 'deploy'.\n\n" + help_text(None)
