import subprocess
import sys
from pathlib import Path

import pytest

from hub.settings import Secret, Settings, SettingsError


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({"HOME": "/home/ada"})
    assert settings.data_dir == Path("/home/ada/.local/share/garageswarm")
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.embedded_database and settings.embedded_redis
    assert settings.hub_url == "http://127.0.0.1:8080"


def test_xdg_data_home_and_explicit_data_dir_are_honoured() -> None:
    assert Settings.from_env({"XDG_DATA_HOME": "/x"}).data_dir == Path("/x/garageswarm")
    assert Settings.from_env({"GARAGESWARM_DATA_DIR": "/srv/gs"}).data_dir == Path("/srv/gs")


def test_store_urls_are_used_when_set() -> None:
    settings = Settings.from_env(
        {"DATABASE_URL": "postgresql://u:p@db:5432/gs", "REDIS_URL": "redis://127.0.0.1:6379/0"}
    )
    assert not settings.embedded_database and not settings.embedded_redis
    assert settings.redis_url == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("env", "names", "expects"),
    [
        ({"PORT": "eighty"}, "PORT", "not an integer"),
        ({"PORT": "70000"}, "PORT", "1..65535"),
        ({"DATABASE_URL": "mysql://db/x"}, "DATABASE_URL", "postgresql://"),
        ({"DATABASE_URL": "postgresql://:notaport/x"}, "DATABASE_URL", "not a valid URL"),
        ({"REDIS_URL": "http://cache"}, "REDIS_URL", "redis://"),
        ({"REDIS_URL": "redis:///0"}, "REDIS_URL", "no host"),
        ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL", "DEBUG"),
        ({"GARAGESWARM_SECRET_KEY": "short"}, "GARAGESWARM_SECRET_KEY", "at least 32"),
        ({"DISCORD_PUBLIC_KEY": "zz"}, "DISCORD_PUBLIC_KEY", "not hex"),
        ({"GARAGESWARM_HEARTBEAT_TIMEOUT_S": "1", "GARAGESWARM_HEARTBEAT_INTERVAL_S": "5"},
         "GARAGESWARM_HEARTBEAT_TIMEOUT_S", "greater than"),
        ({"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s"}, "GARAGESWARM_SECRET_KEY", "encrypted"),
        ({"SLACK_CLIENT_ID": "1.2"}, "SLACK_CLIENT_SECRET", "required"),
        ({"SLACK_APPROVERS": "U123,bob"}, "SLACK_APPROVERS", "'bob' is not a Slack user id"),
        ({"GARAGESWARM_APPROVAL_TOOLS": "git commit"}, "GARAGESWARM_APPROVAL_TOOLS", "server.tool"),
    ],
)  # fmt: skip
def test_malformed_setting_names_the_variable_and_what_is_expected(
    env: dict[str, str], names: str, expects: str
) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    assert names in str(error.value)
    assert expects in str(error.value)


def test_database_url_error_does_not_echo_the_password() -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"DATABASE_URL": "mysql://admin:hunter2hunter2@db/x"})
    assert "hunter2" not in str(error.value)


def test_secrets_never_show_in_repr_or_str() -> None:
    settings = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-very-secret", "GARAGESWARM_SECRET_KEY": "k" * 40})
    assert "xoxb-very-secret" not in repr(settings)
    assert "k" * 40 not in repr(settings)
    assert isinstance(settings.slack_bot_token, Secret)
    assert settings.slack_bot_token.get() == "xoxb-very-secret"
    assert str(settings.slack_bot_token) == "**********"


def test_cli_fails_fast_with_a_clear_message_on_a_bad_setting(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "hub"],
        env={"PORT": "not-a-port", "GARAGESWARM_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "PORT='not-a-port' is not an integer" in result.stderr
    assert not (tmp_path / "postgres").exists(), "nothing may start on a bad setting"
