"""What lineflow tells people: run summaries (status and health come later)."""
