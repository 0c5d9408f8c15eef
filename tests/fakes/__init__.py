"""Strict fakes of the outside services tests cannot reach (the Slack and Discord APIs)."""
