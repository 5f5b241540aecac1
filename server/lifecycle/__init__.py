"""The lessons' life by the clock, and what is kept of it.

- `timetable`: the weekly timetable expanded into Lessons, honouring holidays and one-off edits.
- `scheduler`: `LessonScheduler`, the task in `kelian serve` that opens, records, warns and
  ends lessons on time.
- `quality`: link quality from the relay's statistics (readings, minutes, grades).
- `attendance`: `AttendanceLog`, which records who was in each Room when, and their links.
- `report`: a lesson's attendance and link quality as the report page shows them.
"""
