-- Idempotency-Key of the API's creating requests: the first request with a key claims it (a row
-- with no status yet); its answer is stored when it is 2xx or a 4xx validation error, and every
-- later request with the same key, from the same principal, gets that answer back. 5xx answers
-- and other refusals delete the claim, so a retry runs again.
CREATE TABLE idempotency_keys (
    tenant_id     bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    -- Who sent it: 'user:<user_id>' for a login session, 'token:<token_id>' for an API token.
    principal     text NOT NULL,
    key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255 AND key ~ '^[!-~]+$'),
    -- The request's fingerprint: method, path and SHA-256 of the body.
    method        text NOT NULL,
    path          text NOT NULL,
    body_sha256   bytea NOT NULL CHECK (length(body_sha256) = 32),
    -- NULL while the first request runs.
    status        smallint CHECK (status BETWEEN 200 AND 499),
    content_type  text,
    response      bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, principal, key)
);

-- The purge (job kind `purge_idempotency_keys`) runs per tenant.
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (tenant_id, expires_at);
