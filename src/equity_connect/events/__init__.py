"""Signed outbound events: subscriptions, deliveries signed per Standard Webhooks, replay."""
