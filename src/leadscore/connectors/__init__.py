"""Platform connectors, one package each; shared mechanics (HTTP pacing, retries, values, mappings) beside them."""
