"""turnout: move a live Kinesis pipeline between AWS environments without losing events."""

__version__ = "0.1.0"
