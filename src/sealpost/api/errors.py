"""SparkPost's error envelope, and every failure mapped onto it.

``{"errors": [{"message", "description", "code"}]}`` with ``code`` a string of SparkPost's
extended codes (reference section 1): 1400 missing field, 1300 bad value, 1600 not found,
1700 unsupported content type. A malformed body names the field that is wrong, never a
stack trace (checklist I).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("sealpost.api")


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        description: str | None = None,
        code: str | None = None,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.description = description
        self.code = code
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"message": self.message}
        if self.description:
            entry["description"] = self.description
        if self.code:
            entry["code"] = self.code
        return {"errors": [entry], **self.extra}


def missing(field: str) -> ApiError:
    return ApiError(422, "required field is missing", f"{field} is a required field", "1400")


def invalid(field: str, why: str) -> ApiError:
    return ApiError(422, "invalid data format/type", f"{field}: {why}", "1300")


def not_found(what: str) -> ApiError:
    return ApiError(404, "resource not found", f"Resource not found:{what}", "1600")


UNAUTHORIZED = ApiError(401, "Unauthorized.")
FORBIDDEN = ApiError(403, "Forbidden.")
# The queue's disk is under [store] min_free (store.free_space); SMTP answers 452 4.3.1.
INSUFFICIENT_STORAGE = ApiError(
    503,
    "service unavailable",
    "insufficient system storage: the queue's disk is nearly full; try again later",
    "1900",
    headers={"Retry-After": "60"},
)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            field = _field(tuple(err.get("loc", ())))
            if err.get("type") == "missing":
                errors.append(
                    {
                        "message": "required field is missing",
                        "description": f"{field} is a required field",
                        "code": "1400",
                    }
                )
            elif err.get("type") == "json_invalid":
                return JSONResponse(
                    {
                        "errors": [
                            {
                                "message": "invalid JSON",
                                "description": str(err.get("msg")),
                                "code": "1300",
                            }
                        ]
                    },
                    status_code=400,
                )
            else:
                errors.append(
                    {
                        "message": "invalid data format/type",
                        "description": f"{field}: {err.get('msg')}",
                        "code": "1300",
                    }
                )
        return JSONResponse({"errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "1600", 405: "1200", 413: "1300", 415: "1700"}
        body = {"message": str(exc.detail), "code": codes.get(exc.status_code, "1200")}
        return JSONResponse({"errors": [body]}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def crash(_: Request, exc: Exception) -> JSONResponse:
        log.exception("API request failed")
        return JSONResponse(
            {"errors": [{"message": "internal error", "code": "1900"}]}, status_code=500
        )
