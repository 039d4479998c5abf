"""Places: the offline gazetteer (nearest city, region, country), place names in queries and
the time zone of a position. Pure data and arithmetic: no catalog, no network."""
