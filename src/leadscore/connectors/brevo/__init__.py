"""Brevo (formerly Sendinblue) as a leadscore source, over httpx."""

from leadscore.connectors.brevo.connector import BrevoConnector

__all__ = ["BrevoConnector"]
