"""Live lessons on the control plane: the lesson-kind rules, the Rooms of running lessons and
who may enter them. Media moves through `media.interface` only.

- `rules`: pure lesson-kind rules (publish, receive, actions), table-tested.
- `participant`: a participant in a Room and the Outbox its messages go through.
- `room`: `LiveRoom`, one running lesson: membership, publications, Subscriptions.
- `actions`: floor, hands, stage, chat, questions and muting on a `LiveRoom`.
- `lessons`: `LiveLessons`, the node's running lessons over its MediaService.
- `admission`: who enters which lesson in which role (reads the database).
- `attendance`: the hook a Room calls on every join and leave (`AttendanceSink`).
"""
