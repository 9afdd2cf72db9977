-- Every index leads with tenant_id (the overdue check runs per tenant anyway).
DROP INDEX scheduled_calls_pending;
CREATE INDEX scheduled_calls_pending ON scheduled_calls (tenant_id, due_at) WHERE status = 'pending';
