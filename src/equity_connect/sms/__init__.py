"""Texts: SignalWire outbound sends with their guards, inbound messages and carrier keywords."""
