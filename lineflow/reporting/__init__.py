"""What lineflow tells people: run summaries, status, health (terminal, HTML, e-mail), doctor."""
