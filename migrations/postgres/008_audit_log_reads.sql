-- GET /api/v1/audit reads one organization's rows newest first, often for one entity.
CREATE INDEX audit_log_org_id_idx ON audit_log (org_id, id DESC);
CREATE INDEX audit_log_entity_idx ON audit_log (org_id, entity_type, entity_id, id DESC);
