"""When an offline action was done: the phone's time, kept beside the server's receipt.

A start, a submit or a check done offline reaches the server when the phone is back on
line, hours later perhaps. The phone says when the user acted (`device_time`, its clock
when the action was queued) and may say its clock when sending (`sent_at`). "Done on
time" is judged by when it was done, within bounds the server can stand behind:

- never after the server received it (a phone clock running ahead, or a claim of the
  future, is brought back to the receipt);
- never before the phone's last contact with the server (`contact`): the last request of
  the phone's session before its latest pause (UserSession.offline_since, see
  accounts.auth.last_contact). A phone cannot claim to have acted before it went quiet:
  if it had acted then, it would have sent it then.

When the phone also says `sent_at`, the time is taken as the receipt less the time the
action waited on the phone (sent_at - device_time, both on the phone's clock), so a phone
clock that is simply wrong (by minutes or by a time zone) still gives the right moment.

Outside the bounds the time is clamped, never refused (the inspector's work is not lost
for a phone clock), and `clamped` says which bound and keeps what the phone said.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# Ahead of the receipt by no more than this is a phone clock's ordinary drift, not a claim
# of the future: still brought back to the receipt, but not flagged.
DRIFT = timedelta(minutes=2)


@dataclass(frozen=True)
class PhoneTime:
    device_time: datetime  # what the phone said, as it said it
    done_at: datetime      # when it was done, as the server judges it
    received_at: datetime  # when the server received it
    clamped: str | None    # None | "future" | "before_contact"

    def as_data(self) -> dict[str, Any]:
        """The event's fields (the timeline shows both times)."""
        data: dict[str, Any] = {"device_time": self.device_time, "done_at": self.done_at,
                                "received_at": self.received_at}
        if self.clamped:
            data["device_time_clamped"] = self.clamped
        return data


def judge(device_time: datetime | None, received: datetime, *,
          contact: datetime | None, sent_at: datetime | None = None) -> PhoneTime | None:
    """When the action was done; None when the phone said nothing (done on receipt)."""
    if device_time is None:
        return None
    done = device_time
    if sent_at is not None and sent_at >= device_time:
        done = received - (sent_at - device_time)  # its wait, on the phone's own clock
    clamped = None
    if done > received:
        clamped = "future" if done - received > DRIFT else None
        done = received
    elif contact is not None and done < contact:
        clamped, done = "before_contact", min(contact, received)
    return PhoneTime(device_time=device_time, done_at=done, received_at=received,
                     clamped=clamped)
