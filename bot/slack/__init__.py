"""The Slack chat adapter: Block Kit rendering, update pacing, and (later) the Web API client and routes."""
