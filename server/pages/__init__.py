"""Server-rendered pages: sign-in, the dashboard, the admin pages and the error pages.

- `auth`: sign in, sign out, language switch.
- `dashboard`: today's and the coming week's lessons; a teacher's ad-hoc lesson.
- `admin`: one generic list / form / delete flow, driven by `kinds` (fields and columns per
  record kind) and `forms` (reading and binding fields); `lookups` loads names and choices.
- `errors`: the page shown for a `KelianError`.
- `live`: the teacher console, the observer page and the classroom terminal (kiosk).
- `library`, `library_upload`, `library_files`: the lesson library's catalogue and player,
  uploads, and its media files and downloads.
- `report`: a lesson's attendance and link quality (`charts` draws its SVG).
- `oversight`: usage per county, school and teaching point over a period, and its CSV.
- `failures`: classrooms that failed to join their lesson (home page panel, daily summary).
"""

from aiohttp import web

from . import (
    admin,
    auth,
    dashboard,
    errors,
    failures,
    library,
    library_files,
    library_upload,
    live,
    oversight,
    report,
)


def setup(app: web.Application) -> None:
    """Register the page routes and the error-page renderer."""
    auth.setup(app)
    dashboard.setup(app)
    admin.setup(app)
    live.setup(app)
    library.setup(app)
    library_upload.setup(app)
    library_files.setup(app)
    report.setup(app)
    oversight.setup(app)
    failures.setup(app)
    errors.setup(app)
