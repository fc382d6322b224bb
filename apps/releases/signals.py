"""What releases tell the apps above them. Sent inside the transaction that made the change, so
a receiver's writes commit or roll back with it."""

from django.dispatch import Signal

# A release changed phase; sent with `release` (already saved in its new phase) and `reason`.
release_moved = Signal()
