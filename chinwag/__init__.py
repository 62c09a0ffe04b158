"""chinwag: a self-hosted chat system for people who live in the terminal."""

__version__ = "0.1.0"
