"""The models of the signed license-key API (app/blueprints/license_api.py) in the OpenAPI
document. That API checks its bodies itself (its answers are signed, its refusals have their
own shape), so these describe it without validating it (spectree `skip_validation`)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from spectree import Response


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Meta(_Open):
    nonce: str | None
    time: str


class LicenseView(_Open):
    id: int
    product_id: int
    status: str
    key_hint: str
    expires_at: str | None
    max_activations: int
    activations: int


class LicenseKeyBody(BaseModel):
    key: str = Field(max_length=128, description="The license key.")
    fingerprint: str | None = Field(None, max_length=255, description="The machine's fingerprint.")
    product_id: int | None = Field(None, ge=1)
    nonce: str | None = Field(None, max_length=128, description="Echoed in meta.nonce (replay protection).")


class MachineBody(BaseModel):
    key: str = Field(max_length=128)
    fingerprint: str = Field(max_length=255)
    name: str | None = Field(None, max_length=255)
    ttl: int | None = Field(None, description="checkout only: seconds the license file stays valid")
    nonce: str | None = Field(None, max_length=128)


class WhopBody(BaseModel):
    metadata: dict[str, Any] | None = Field(None, description="{hardware_id}")
    hardware_id: str | None = Field(None, max_length=255)


class ValidateAnswer(_Open):
    valid: bool
    code: str
    message: str
    license: LicenseView | None
    meta: Meta


class ActivateAnswer(_Open):
    activated: bool
    code: str
    license: LicenseView
    meta: Meta


class DeactivateAnswer(_Open):
    deactivated: bool
    code: str
    license: LicenseView
    meta: Meta


class CheckoutAnswer(_Open):
    license_file: dict[str, Any]
    meta: Meta


class PublicKeyAnswer(_Open):
    algorithm: str
    public_key: str
    public_key_pem: str
    signature_header: str
    meta: Meta


class WhopMembership(_Open):
    id: str
    valid: bool
    status: str


class LicenseErrorBody(_Open):
    code: str
    message: str


class LicenseError(_Open):
    error: LicenseErrorBody


REFUSALS = (400, 403, 404, 409, 413, 415, 422, 429, 503)


def answers(**ok: Any) -> Response:
    """The documented answers of a license endpoint: `ok` plus its refusals."""
    return Response(**{**{f"HTTP_{status}": LicenseError for status in REFUSALS}, **ok})
