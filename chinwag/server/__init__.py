"""The chinwag server: asyncio TCP front, Redis behind."""
