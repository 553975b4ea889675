-- pgbench baseline for the backlog drain: one 1,000-row upsert with random
-- 16-hex voter ids (as real cookies are), into a table already holding
-- millions of rows, with the same conflict rule as the worker's.
INSERT INTO votes (id, vote, ts)
SELECT substr(md5(random()::text), 1, 16), CASE WHEN g % 3 = 0 THEN 'b' ELSE 'a' END, g
FROM generate_series(1, 1000) AS g
ON CONFLICT (id) DO UPDATE SET vote = EXCLUDED.vote, ts = EXCLUDED.ts
WHERE (votes.ts IS NULL OR EXCLUDED.ts IS NULL OR votes.ts <= EXCLUDED.ts)
  AND (votes.vote IS DISTINCT FROM EXCLUDED.vote OR votes.ts IS DISTINCT FROM EXCLUDED.ts);
