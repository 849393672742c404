"""Publishing: from the analytic store to versioned, gated, disclosure-controlled datasets."""
