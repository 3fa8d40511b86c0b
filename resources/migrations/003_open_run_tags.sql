-- 003: workflow_claim_next with tags walks only the runs that are not finished. run_tags.open is 1
-- while the run's status is not done or failed; triggers keep it so whichever statement changes a
-- status or adds a tag, and the partial index holds only open runs, oldest first per tag.
ALTER TABLE run_tags ADD COLUMN open INTEGER NOT NULL DEFAULT 1;
UPDATE run_tags SET open = 0 WHERE seq IN (SELECT seq FROM workflows WHERE status IN ('done', 'failed'));
CREATE INDEX run_tags_open ON run_tags (tag, value, seq) WHERE open = 1;

CREATE TRIGGER run_tags_open_on_insert AFTER INSERT ON run_tags
    WHEN (SELECT status FROM workflows WHERE seq = NEW.seq) IN ('done', 'failed')
BEGIN
    UPDATE run_tags SET open = 0 WHERE seq = NEW.seq AND tag = NEW.tag;
END;

CREATE TRIGGER run_tags_open_on_status AFTER UPDATE OF status ON workflows
    WHEN (OLD.status IN ('done', 'failed')) <> (NEW.status IN ('done', 'failed'))
BEGIN
    UPDATE run_tags SET open = (NEW.status NOT IN ('done', 'failed')) WHERE seq = NEW.seq;
END;
