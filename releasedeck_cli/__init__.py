"""The `releasedeck` command: drive ReleaseDeck from a pipeline through its public REST API.

It never imports the server's code; everything it knows comes over HTTP.
"""

__version__ = "0.1.0"
