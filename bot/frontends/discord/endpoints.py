"""Where discord.py talks to: Discord itself, an API/gateway proxy, or the test fake."""

from __future__ import annotations

import discord
import discord.gateway
import discord.http
import yarl

from bot.config import Settings


def configure_endpoints(settings: Settings) -> None:
    """Point discord.py at the configured REST base and gateway (an API proxy, or the
    loopback fake in the end-to-end tests). The defaults are Discord's own."""
    discord.http.Route.BASE = settings.discord_api_base.rstrip("/")
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
