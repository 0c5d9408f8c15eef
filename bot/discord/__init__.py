"""The Discord chat adapter: message rendering (components) and the /swarm application command (commands)."""
