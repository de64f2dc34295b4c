"""Salesforce as a leadscore source, through simple-salesforce."""

from leadscore.connectors.salesforce.connector import SalesforceConnector

__all__ = ["SalesforceConnector"]
