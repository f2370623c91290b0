import httpx
import openai
import pytest
from pydantic import SecretStr

from confidence_router import OpenAIChatModel
from confidence_router.errors import ConfigurationError
from confidence_router.models.openai import is_retryable, retry_after_seconds

REQ = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")


def status_error(code: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    response = httpx.Response(code, request=REQ, headers=headers or {})
    cls = {
        429: openai.RateLimitError,
        400: openai.BadRequestError,
        401: openai.AuthenticationError,
        404: openai.NotFoundError,
        500: openai.InternalServerError,
    }.get(code, openai.APIStatusError)
    return cls("x", response=response, body=None)


@pytest.mark.parametrize(
    "code,retry",
    [(429, True), (500, True), (503, True), (400, False), (401, False), (404, False), (422, False)],
)
def test_status_codes(code: int, retry: bool) -> None:
    assert is_retryable(status_error(code)) is retry


def test_transport_errors_retry() -> None:
    assert is_retryable(openai.APIConnectionError(request=REQ))
    assert is_retryable(openai.APITimeoutError(request=REQ))
    assert not is_retryable(ValueError("x"))


def test_retry_after() -> None:
    assert retry_after_seconds(status_error(429, {"Retry-After": "3"}), cap=10) == 3.0
    assert retry_after_seconds(status_error(429, {"Retry-After": "300"}), cap=10) == 10.0
    assert retry_after_seconds(status_error(429), cap=10) is None


def test_key_is_secret() -> None:
    m = OpenAIChatModel("m", base_url="http://127.0.0.1:9/v1", api_key="sk-very-secret")
    assert isinstance(m.api_key, SecretStr)
    assert "sk-very-secret" not in repr(m) and "sk-very-secret" not in str(vars(m).get("api_key"))


@pytest.mark.parametrize(
    "kw,field",
    [
        ({"timeout": 0}, "timeout"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"tier": "middle"}, "tier"),
    ],
)
def test_bad_settings_name_the_field(kw: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigurationError, match=field):
        OpenAIChatModel("m", base_url="http://127.0.0.1:9/v1", **kw)  # type: ignore[arg-type]
