"""The API's route table: every endpoint once, registered on the router and described in OpenAPI."""

from __future__ import annotations

from aiohttp import web

from ..auth.policy import Kind
from ..library.catalogue import FILTERS as RESOURCE_FILTERS
from ..library.shapes import ProgressOut, ResourceOut, ResourcePatch
from ..schemas import LessonOut, TerminalTokenOut
from ..services.records import RecordSpec
from ..services.specs import SPECS
from . import lessons, me, openapi, resources, terminals, tokens
from .handlers import RecordHandlers
from .operations import ID, Operation, path
from .shapes import ApiTokenCreatedOut, ApiTokenIn, ApiTokenOut, MeOut, page_of

PLURALS: dict[Kind, str] = {
    Kind.school: "schools",
    Kind.classroom: "classrooms",
    Kind.terminal: "terminals",
    Kind.source: "sources",
    Kind.user: "users",
    Kind.course: "courses",
    Kind.timetable_entry: "timetable-entries",
    Kind.lesson: "lessons",
    Kind.holiday: "holidays",
}


def record_operations(spec: RecordSpec, plural: str) -> list[Operation]:
    """The five endpoints of one record kind."""
    one, many = spec.kind.value, plural.replace("-", "_")
    coll, item = f"api.{plural}", f"api.{plural}.item"
    h = RecordHandlers(spec, item)
    name = spec.name
    return [
        Operation("GET", path(plural), h.list, coll, f"list_{many}", f"List {name} records",
                  tag=plural, response=page_of(spec.out), filters=spec.filters, paged=True,
                  description=f"The {name} records you may see, filtered and paged."),
        Operation("POST", path(plural), h.create, coll, f"create_{one}", f"Create a {name}",
                  tag=plural, status=201, body=spec.create, response=spec.out, conflicts=True),
        Operation("GET", path(plural, ID), h.get, item, f"get_{one}", f"Read a {name}",
                  tag=plural, response=spec.out),
        Operation("PATCH", path(plural, ID), h.update, item, f"update_{one}", f"Change a {name}",
                  tag=plural, body=spec.patch, response=spec.out, conflicts=True,
                  description="Only the fields given change; the others keep their values."),
        Operation("DELETE", path(plural, ID), h.delete, item, f"delete_{one}", f"Delete a {name}",
                  tag=plural, status=204, conflicts=True,
                  description="Refused with 409 while other records still use it."),
    ]


def api_operations() -> list[Operation]:
    """Every endpoint under /api/v1, in the order the OpenAPI document lists them."""
    ops = [
        Operation("GET", path("openapi.json"), openapi.serve, "api.openapi", "get_openapi",
                  "This OpenAPI document", tag="meta", public=True,
                  description="Generated from the route table and the record schemas."),
        Operation("GET", path("me"), me.me, "api.me", "get_me", "Who the credentials belong to",
                  tag="account", response=MeOut),
        Operation("POST", path("tokens"), tokens.create, "api.tokens", "create_api_token",
                  "Make an API token for yourself", tag="account", status=201,
                  body=ApiTokenIn, response=ApiTokenCreatedOut,
                  description="Only in a signed-in session (cookie and CSRF header): a token "
                              "cannot make tokens. The secret is in this answer only."),
        Operation("GET", path("tokens"), tokens.list_own, "api.tokens", "list_api_tokens",
                  "List your API tokens", tag="account", response=page_of(ApiTokenOut),
                  paged=True, forbids=True),
        Operation("GET", path("tokens", ID), tokens.get_own, "api.tokens.item", "get_api_token",
                  "Read one of your API tokens", tag="account", response=ApiTokenOut,
                  forbids=True),
        Operation("DELETE", path("tokens", ID), tokens.revoke, "api.tokens.item",
                  "revoke_api_token", "Revoke one of your API tokens", tag="account", status=204),
    ]
    for kind, spec in SPECS.items():
        ops += record_operations(spec, PLURALS[kind])
    ops += [
        Operation("POST", path("terminals", ID, "token"), terminals.issue, "api.terminals.token",
                  "issue_terminal_token", "Issue a terminal token", tag="terminals", status=201,
                  response=TerminalTokenOut,
                  description="Admins only. Replaces any earlier token, which stops working at "
                              "once. The token is in this answer only."),
        Operation("DELETE", path("terminals", ID, "token"), terminals.revoke,
                  "api.terminals.token", "revoke_terminal_token", "Revoke a terminal token",
                  tag="terminals", status=204, description="Admins only."),
        Operation("POST", path("lessons", ID, "start"), lessons.start, "api.lessons.start",
                  "start_lesson", "Start a lesson", tag="lessons", response=LessonOut,
                  conflicts=True,
                  description="The lesson's teacher or an admin. A scheduled lesson becomes "
                              "live and its Room opens for signalling on /ws; 409 otherwise."),
        Operation("POST", path("lessons", ID, "end"), lessons.end, "api.lessons.end",
                  "end_lesson", "End a lesson", tag="lessons", response=LessonOut,
                  conflicts=True,
                  description="The lesson's teacher or an admin. A live lesson becomes ended; "
                              "its Room closes and every participant is disconnected; 409 "
                              "otherwise."),
    ]
    ops += resource_operations()
    return ops


def resource_operations() -> list[Operation]:
    """The lesson library's Resources: no POST (they come from recordings and uploads)."""
    coll, item = "api.resources", "api.resources.item"
    return [
        Operation("GET", path("resources"), resources.list_resources, coll, "list_resources",
                  "List and search library resources", tag="resources",
                  response=page_of(ResourceOut), filters=RESOURCE_FILTERS, paged=True,
                  description="The ready resources you may see (and your own in any state), "
                              "newest lesson first, filtered, searched and paged."),
        Operation("GET", path("resources", ID), resources.get_resource, item, "get_resource",
                  "Read a library resource", tag="resources", response=ResourceOut),
        Operation("PATCH", path("resources", ID), resources.update_resource, item,
                  "update_resource", "Change a resource's metadata", tag="resources",
                  body=ResourcePatch, response=ResourceOut,
                  description="Its owner or an admin. Only the fields given change."),
        Operation("DELETE", path("resources", ID), resources.delete_resource, item,
                  "delete_resource", "Delete a library resource", tag="resources", status=204,
                  description="Its owner or an admin. Removes its renditions and files; a "
                              "transcode still running is cancelled."),
        Operation("GET", path("resources", ID, "progress"), resources.resource_progress,
                  "api.resources.progress", "get_resource_progress",
                  "How far a resource's processing is", tag="resources", response=ProgressOut,
                  description="State, and while its transcode job runs, progress (0..1) and "
                              "speed (× real time); the reason when it failed."),
    ]


def setup(app: web.Application) -> None:
    table = api_operations()
    resources: dict[str, web.Resource] = {}
    for op in table:
        if op.path not in resources:
            resources[op.path] = app.router.add_resource(op.path, name=op.route)
        resources[op.path].add_route(op.method, op.handler)
    app[openapi.OPENAPI_DOCUMENT] = openapi.document(table)
