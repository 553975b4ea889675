//! The Postgres schema: the original `votes` table plus what makes it fast.
//!
//! `votes (id VARCHAR(255) NOT NULL UNIQUE, vote VARCHAR(255) NOT NULL)` is the
//! original app's table and stays as it is, so the original worker and result
//! images keep working on it. We add:
//! - `votes.ts`, the cast time stamped by `vote`, so a late or replayed vote
//!   never overwrites a newer one;
//! - `vote_counts`, the totals per option, kept by statement triggers on `votes`
//!   (so they stay right when the original worker writes too), and a
//!   `NOTIFY vote_counts` when they change, so `result` pushes updates instead
//!   of re-counting the table.
//!
//! `ensure` is idempotent and safe to run from many processes at once.

use crate::tally::Tally;
use tokio_postgres::GenericClient;

/// The channel `result` listens on; notified in the transaction that changes a total.
pub const TALLY_CHANNEL: &str = "vote_counts";

/// Serializes concurrent `ensure` runs (an arbitrary constant key).
const SCHEMA_LOCK_KEY: i64 = 0x766f_7465_6170_7001;

const CREATE_VOTES: &str = "
CREATE TABLE IF NOT EXISTS votes (
    id VARCHAR(255) NOT NULL UNIQUE,
    vote VARCHAR(255) NOT NULL
);
ALTER TABLE votes ADD COLUMN IF NOT EXISTS ts BIGINT;
";

const COUNT_FUNCTIONS: &str = r#"
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
"#;

/// Installed once, when `vote_counts` does not exist yet: the table, its
/// back-fill from `votes`, and the triggers, while `votes` is locked against
/// writes so that no vote slips between the back-fill and the triggers.
const INSTALL_COUNTS: &str = "
LOCK TABLE votes IN SHARE ROW EXCLUSIVE MODE;
CREATE TABLE vote_counts (
    vote VARCHAR(255) PRIMARY KEY,
    count BIGINT NOT NULL
);
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
";

/// Creates whatever of the schema is missing; a no-op when all is there.
pub async fn ensure(client: &mut tokio_postgres::Client) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK_KEY])
        .await?;
    tx.batch_execute(CREATE_VOTES).await?;
    tx.batch_execute(COUNT_FUNCTIONS).await?;
    let has_counts: bool = tx
        .query_one("SELECT to_regclass('vote_counts') IS NOT NULL", &[])
        .await?
        .get(0);
    if !has_counts {
        tx.batch_execute(INSTALL_COUNTS).await?;
    }
    tx.commit().await
}

/// Reads the totals: two rows, however many voters there are.
pub async fn read_tally(client: &impl GenericClient) -> Result<Tally, tokio_postgres::Error> {
    let rows = client
        .query("SELECT vote, count FROM vote_counts", &[])
        .await?;
    let mut tally = Tally::default();
    for row in rows {
        let vote: &str = row.get(0);
        let count: i64 = row.get(1);
        match vote {
            "a" => tally.a = count,
            "b" => tally.b = count,
            _ => {}
        }
    }
    Ok(tally)
}
