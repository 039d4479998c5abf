"""Search: parse a query, plan it (fusion), pick the top k (ranking), the engine."""
