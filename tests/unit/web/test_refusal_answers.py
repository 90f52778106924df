"""Every refusal the domain can give has one HTTP answer in `forkable.web.errors`."""

from __future__ import annotations

from enum import Enum

from forkable.accounts.credentials import SameEmail, WrongPassword
from forkable.accounts.emails import InvalidEmail
from forkable.accounts.links import BadLink
from forkable.accounts.passwords import PasswordsBusy, WeakPassword
from forkable.accounts.service import EmailTaken, InvalidCredentials
from forkable.accounts.throttle import Throttled
from forkable.admin.service import AdminRefusal
from forkable.generations.intake import GenerationRefusal
from forkable.generations.uploads import UploadProblem
from forkable.payments.gateway import PaymentProviderError
from forkable.payments.service import UnknownPack
from forkable.web.errors import REFUSAL_ANSWERS, refused

REASON_ENUMS: tuple[type[Enum], ...] = (GenerationRefusal, UploadProblem, AdminRefusal)
REFUSAL_EXCEPTIONS = (
    InvalidEmail,
    WeakPassword,
    EmailTaken,
    InvalidCredentials,
    Throttled,
    PasswordsBusy,
    UnknownPack,
    PaymentProviderError,
    BadLink,
    WrongPassword,
    SameEmail,
)


def test_every_refusal_kind_has_exactly_one_answer() -> None:
    kinds = {member for enum in REASON_ENUMS for member in enum}
    assert set(REFUSAL_ANSWERS) == kinds | set(REFUSAL_EXCEPTIONS)


def test_answers_are_client_or_server_errors_with_a_code() -> None:
    for kind, answer in REFUSAL_ANSWERS.items():
        assert 400 <= answer.status < 600, kind
        assert answer.code and answer.code.isidentifier(), kind


def test_a_refusal_with_a_wait_says_retry_after() -> None:
    error = refused(GenerationRefusal.SPEND_CAP, "Come back tomorrow.", 3600)
    assert (error.status_code, error.code, error.detail) == (
        429,
        "spend_cap",
        "Come back tomorrow.",
    )
    assert error.headers == {"Retry-After": "3600"}
    assert refused(UploadProblem.TOO_LARGE, "Too large.").headers is None
