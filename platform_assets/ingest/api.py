"""`cdp serve`: the platform's HTTP API on FastAPI, its ingest and its profile halves.

Events posted here become landing files, the same as files a source system drops: the raw and
cleaned layers, the lineage and the erasure all treat them alike. A 202 is sent only once the
events are durably on disk; a request with one bad event writes nothing.

Profiles are read from the snapshot the exports publish (`resources.profile_snapshot`), never
from the warehouse: the API neither waits for nor blocks its single writer.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at run time.
import json
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from platform_assets.exports.profiles import profile_document
from platform_assets.ingest.validate import check_events, ingest_file_name, parse_body
from resources import LandingZone
from resources.profile_snapshot import ProfileStore

# A request larger than this is refused with 413 (CDP_INGEST_MAX_BYTES overrides it): big loads
# belong in landing files, not in one HTTP request held in memory.
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024


class EventSource(StrEnum):
    web_events = "web_events"
    email_events = "email_events"
    consent = "consent"


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, detail=f"the request body is larger than {limit} bytes")


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # a chunked body without a length is cut off as it grows
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    landing_zone: LandingZone,
    token: str,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    first_day: date | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    profiles: ProfileStore | None = None,
) -> FastAPI:
    """The API over one landing zone and one profile snapshot; every route but the health
    check wants `token`."""
    if not token:
        raise ValueError("the ingest API needs a bearer token (CDP_INGEST_TOKEN)")
    app = FastAPI(
        title="Customer data platform API",
        version="1",
        # Served below, behind the token like everything but the health check.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    bearer = HTTPBearer(auto_error=False)

    # Coroutines, not plain functions: FastAPI would run those on a thread pool, whose hand-off
    # costs more than an in-memory profile lookup.
    async def authorized(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        given = credentials.credentials if credentials else ""
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(
                401,
                detail="a valid bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )

    @app.get("/v1/health", summary="Liveness for a load balancer (no token, no data)")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/openapi.json", dependencies=[Depends(authorized)], include_in_schema=False)
    def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.post(
        "/v1/events/{source}",
        status_code=202,
        dependencies=[Depends(authorized)],
        summary="Post events: one JSON object, a JSON array, or NDJSON",
        responses={
            400: {"description": "the body is not JSON"},
            401: {"description": "missing or wrong bearer token"},
            413: {"description": "the body is over the size limit"},
            422: {"description": "one reason per rejected event; nothing was written"},
        },
    )
    async def post_events(source: EventSource, request: Request) -> Any:
        body = await _read_body(request, max_body_bytes)
        try:
            items = parse_body(body, request.headers.get("content-type", ""))
        except ValueError as error:
            return JSONResponse(
                {
                    "accepted": 0,
                    "rejected": [{"index": None, "field": None, "rule": f"invalid_json: {error}"}],
                },
                status_code=400,
            )
        checked = check_events(source.value, items, now=clock(), first_day=first_day)
        if checked.rejections:
            return JSONResponse(
                {"accepted": 0, "rejected": [r.as_dict() for r in checked.rejections]},
                status_code=422,
            )
        landed: list[str] = []
        repeated: list[str] = []
        for day, content in sorted(checked.files.items()):
            name = ingest_file_name(content)
            written = landing_zone.land_complete_file(source.value, day.isoformat(), name, content)
            (landed if written else repeated).append(f"{source.value}/{day.isoformat()}/{name}")
        return {"accepted": checked.accepted, "files": landed, "already_landed": repeated}

    # Each profile is serialized once per snapshot: a lookup then answers stored bytes.
    rendered: dict[str, bytes] = {}
    rendered_for: list[object] = [None]

    def _profile(found: dict[str, Any] | None) -> Response:
        if profiles is None or not profiles.available:
            raise HTTPException(503, detail="no profile snapshot has been published yet")
        if found is None:
            # Unknown and erased people answer alike: an erasure leaves no trace to probe.
            raise HTTPException(404, detail="no such customer")
        if rendered_for[0] != profiles.signature:
            rendered.clear()
            rendered_for[0] = profiles.signature
        key = found["customer_id"]
        if key not in rendered:
            rendered[key] = json.dumps(profile_document(found)).encode()
        return Response(rendered[key], media_type="application/json")

    @app.get(
        "/v1/profiles/{customer_id}",
        dependencies=[Depends(authorized)],
        summary="One customer's profile: names, consent, segments with reasons, tokens",
        responses={404: {"description": "unknown (or erased) customer"}},
    )
    async def profile_by_id(customer_id: str) -> Response:
        return _profile(profiles.by_id(customer_id) if profiles else None)

    @app.get(
        "/v1/profiles",
        dependencies=[Depends(authorized)],
        summary="The profile of the customer with this email address",
        responses={404: {"description": "unknown (or erased) address"}},
    )
    async def profile_by_email(
        email: Annotated[str, Query(min_length=3, max_length=320)],
    ) -> Response:
        return _profile(profiles.by_email(email) if profiles else None)

    return app
