"""leadscore over HTTP: health, metrics and webhooks for the daemon, and the console, on one ASGI app."""

from leadscore.web.app import HealthService, create_app
from leadscore.web.server import HttpServer

__all__ = ["HealthService", "HttpServer", "create_app"]
