-- pgbench baseline for the worker: one 1,000-row upsert into the same table,
-- with the same conflict rule as the worker's.
\set base random(1, 1000000000)
INSERT INTO votes (id, vote, ts)
SELECT 'pgb' || (:base::bigint * 1000 + g)::text, CASE WHEN g % 3 = 0 THEN 'b' ELSE 'a' END, g
FROM generate_series(1, 1000) AS g
ON CONFLICT (id) DO UPDATE SET vote = EXCLUDED.vote, ts = EXCLUDED.ts
WHERE (votes.ts IS NULL OR EXCLUDED.ts IS NULL OR votes.ts <= EXCLUDED.ts)
  AND (votes.vote IS DISTINCT FROM EXCLUDED.vote OR votes.ts IS DISTINCT FROM EXCLUDED.ts);
