"""Events posted over HTTP: validated with the landing contract, written into the landing zone."""
