"""HubSpot: contacts, web and email engagement, properties and MANUAL lists, through hubspot-api-client."""

from __future__ import annotations

from leadscore.connectors.hubspot.connector import HubSpotConnector

__all__ = ["HubSpotConnector"]
