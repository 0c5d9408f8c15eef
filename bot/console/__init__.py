"""The console chat adapter, used for local development and tests."""
