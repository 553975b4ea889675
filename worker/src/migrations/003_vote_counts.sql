-- vote_counts: the totals per option, kept by statement triggers on votes (so
-- they stay right when the original worker writes too), and NOTIFY vote_counts
-- in the transaction that changes a total, so result pushes updates instead of
-- re-counting the table.
--
-- Works on a database without vote_counts and on one made by a release from
-- before versioning (table and triggers already there): votes is locked
-- against writes, the totals are counted afresh, the triggers replaced.
CREATE OR REPLACE FUNCTION votingapp_count_votes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO vote_counts (vote, count)
            SELECT vote, count(*) FROM new_rows GROUP BY vote ORDER BY vote
        ON CONFLICT (vote) DO UPDATE SET count = vote_counts.count + EXCLUDED.count;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO vote_counts (vote, count)
            SELECT vote, sum(delta) FROM (
                SELECT vote, 1 AS delta FROM new_rows
                UNION ALL
                SELECT vote, -1 AS delta FROM old_rows
            ) AS changes
            GROUP BY vote HAVING sum(delta) <> 0 ORDER BY vote
        ON CONFLICT (vote) DO UPDATE SET count = vote_counts.count + EXCLUDED.count;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO vote_counts (vote, count)
            SELECT vote, -count(*) FROM old_rows GROUP BY vote ORDER BY vote
        ON CONFLICT (vote) DO UPDATE SET count = vote_counts.count + EXCLUDED.count;
    END IF;
    IF FOUND THEN
        PERFORM pg_notify('vote_counts', '');
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION votingapp_reset_counts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE vote_counts SET count = 0;
    PERFORM pg_notify('vote_counts', '');
    RETURN NULL;
END $$;

LOCK TABLE votes IN SHARE ROW EXCLUSIVE MODE;
CREATE TABLE IF NOT EXISTS vote_counts (
    vote VARCHAR(255) PRIMARY KEY,
    count BIGINT NOT NULL
);
DELETE FROM vote_counts;
INSERT INTO vote_counts (vote, count) SELECT vote, count(*) FROM votes GROUP BY vote;
DROP TRIGGER IF EXISTS votingapp_count_insert ON votes;
DROP TRIGGER IF EXISTS votingapp_count_update ON votes;
DROP TRIGGER IF EXISTS votingapp_count_delete ON votes;
DROP TRIGGER IF EXISTS votingapp_count_truncate ON votes;
CREATE TRIGGER votingapp_count_insert AFTER INSERT ON votes
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION votingapp_count_votes();
CREATE TRIGGER votingapp_count_update AFTER UPDATE ON votes
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION votingapp_count_votes();
CREATE TRIGGER votingapp_count_delete AFTER DELETE ON votes
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION votingapp_count_votes();
CREATE TRIGGER votingapp_count_truncate AFTER TRUNCATE ON votes
    FOR EACH STATEMENT EXECUTE FUNCTION votingapp_reset_counts();
