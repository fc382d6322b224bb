"""What the rollout engine tells the apps above it. Sent inside the transaction that made the
change, so a receiver's writes commit or roll back with it."""

from django.dispatch import Signal

# A wave changed state (by its one writer, transitions.wave_move); sent with `wave` (already
# saved in its new state) and `before`, the state it left.
wave_moved = Signal()
