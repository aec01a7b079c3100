"""A client of the public license API that checks every answer's Ed25519 signature."""

import base64
import json

from cryptography.hazmat.primitives.serialization import load_pem_public_key


class LicenseApi:
    """Calls the license API through a Flask test client; each call returns (status, body)
    once the answer's `Tradepost-Signature` has been verified against the published key."""

    def __init__(self, client):
        self.client = client
        answer = client.get("/api/v1/licenses/public-key")
        assert answer.status_code == 200
        self.public_key = load_pem_public_key(json.loads(answer.data)["public_key_pem"].encode())
        self.verify(answer)

    def verify(self, response):
        scheme, _, signature = response.headers["Tradepost-Signature"].partition(" ")
        assert scheme == "ed25519"
        self.public_key.verify(base64.b64decode(signature), response.data)
        return json.loads(response.data)

    def post(self, path, body=None, **kwargs):
        response = self.client.post(path, json=body, **kwargs) if body is not None else self.client.post(path, **kwargs)
        return response.status_code, self.verify(response)

    def validate(self, **body):
        return self.post("/api/v1/licenses/validate", body)

    def activate(self, **body):
        return self.post("/api/v1/licenses/activate", body)

    def deactivate(self, **body):
        return self.post("/api/v1/licenses/deactivate", body)

    def checkout(self, **body):
        return self.post("/api/v1/licenses/checkout", body)
