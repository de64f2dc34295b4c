"""One sync cycle (pull, store, score, plan, outbox, apply) through the connector protocol only."""
