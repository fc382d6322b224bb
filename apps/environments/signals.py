"""What environments tell the apps above them. Sent inside the transaction that made the
change, so a receiver's writes commit or roll back with it. The rollout engine's tick
re-finds its work anyway; these only save it the wait."""

from django.dispatch import Signal

# A deployment window or freeze was added, changed or removed.
calendar_changed = Signal()

# The stop-the-line switch was pulled or lifted; sent with `switch`, `actor` and `now`.
stop_the_line_changed = Signal()
