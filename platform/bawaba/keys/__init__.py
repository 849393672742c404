"""API keys, plans, bearer tokens and usage metering for the premium tier."""
