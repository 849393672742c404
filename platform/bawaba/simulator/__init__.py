"""The departments' own systems, simulated: calibrated records with personal data."""
