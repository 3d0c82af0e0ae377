"""Everything that talks to CivitAI: URL parsing, the API gate, the typed client."""
