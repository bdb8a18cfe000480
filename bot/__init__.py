"""mentorbot: an MLOps career mentor for Discord servers and terminals."""

__version__ = "0.1.0"
