"""The webhook hub: inbound endpoints that start jobs, outbound subscriptions told about results."""
