"""Assist agent: runs the console's commands on this machine over one outbound websocket."""

__version__ = "0.1.0"
