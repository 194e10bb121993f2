"""Model families: each brings a config, networks, a step function and what it publishes."""
