-- Revocation reaches open sockets: sessions and API tokens are published (ids, owner, expiry and
-- revocation only; never the token hash), so the realtime hub closes every WebSocket a revoked,
-- expired or deleted credential opened, whoever changed it (the API or SQL).
ALTER PUBLICATION platica ADD TABLE
    sessions (tenant_id, session_id, user_id, expires_at, revoked_at),
    api_tokens (tenant_id, token_id, user_id, expires_at, revoked_at);
