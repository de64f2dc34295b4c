"""``leadscore run``: the scheduler, health and metrics, leases, and a graceful shutdown."""
