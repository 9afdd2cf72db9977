-- The campaign dispatcher asks twice a second, across tenants, which campaigns are due or
-- running. Only those few rows are in this index (tenant first, like every index), so the
-- question costs the same with one tenant or thousands, and with any number of finished
-- campaigns.
CREATE INDEX campaigns_active ON campaigns (tenant_id, campaign_id) WHERE status IN ('scheduled', 'running');
