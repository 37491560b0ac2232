package postgres

import "fmt"

// queries holds the statements on syncd's internal tables, with the schema
// quoted into them once.
type queries struct {
	guard         string
	commit        string
	createCP      string
	getCP         string
	setURL        string
	listCP        string
	lockCP        string
	deleteCP      string
	haltCP        string
	insertRejects string
	deleteRejects string
	listRejects   string
	insertTxIDs   string
	deleteTxIDs   string
	notify        string
}

// checkpointColumns is the column list every checkpoint query selects, in
// the order scanCheckpoint reads.
const checkpointColumns = `stream, url, next_offset, up_to_date, closed, events_applied, rejects, updated_at, halted`

func newQueries(schema string) queries {
	t := func(name string) string { return quoteIdent(schema) + "." + quoteIdent(name) }
	cp, rejects, txids := t("syncd_checkpoints"), t("syncd_rejects"), t("syncd_txids")
	return queries{
		// guard is the first statement of every transaction: it fails to match
		// when another writer moved the checkpoint, and otherwise keeps the
		// row locked until commit so a second writer waits, then fails to match.
		guard: fmt.Sprintf(`UPDATE %s SET updated_at = now() WHERE stream = $1 AND next_offset = $2`, cp),
		commit: fmt.Sprintf(`UPDATE %s SET next_offset = $2, up_to_date = $3, closed = $4,
			events_applied = events_applied + $5, rejects = rejects + $6, updated_at = clock_timestamp(), halted = ''
			WHERE stream = $1`, cp),
		createCP: fmt.Sprintf(`INSERT INTO %s (stream, url, next_offset) VALUES ($1, $2, $3)
			ON CONFLICT (stream) DO NOTHING`, cp),
		getCP:    fmt.Sprintf(`SELECT %s FROM %s WHERE stream = $1`, checkpointColumns, cp),
		setURL:   fmt.Sprintf(`UPDATE %s SET url = $2 WHERE stream = $1`, cp),
		listCP:   fmt.Sprintf(`SELECT %s FROM %s ORDER BY stream`, checkpointColumns, cp),
		lockCP:   fmt.Sprintf(`SELECT true FROM %s WHERE stream = $1 FOR UPDATE`, cp),
		deleteCP: fmt.Sprintf(`DELETE FROM %s WHERE stream = $1`, cp),
		haltCP:   fmt.Sprintf(`UPDATE %s SET halted = $2 WHERE stream = $1`, cp),

		insertRejects: fmt.Sprintf(`INSERT INTO %s (stream, response_offset, position, raw, reason, txid)
			SELECT $1, r.response_offset, r.position, r.raw, r.reason, NULLIF(r.txid, '')
			FROM unnest($2::text[], $3::int4[], $4::bytea[], $5::text[], $6::text[]) AS r(response_offset, position, raw, reason, txid)`, rejects),
		deleteRejects: fmt.Sprintf(`DELETE FROM %s WHERE stream = $1`, rejects),
		listRejects: fmt.Sprintf(`SELECT id, stream, response_offset, position, raw, reason, created_at
			FROM %s WHERE stream = $1 ORDER BY id LIMIT $2`, rejects),
		insertTxIDs: fmt.Sprintf(`INSERT INTO %s (stream, txid, next_offset, committed_at)
			SELECT $1, t.txid, $2, clock_timestamp() FROM unnest($3::text[]) AS t(txid)
			ON CONFLICT (stream, txid) DO UPDATE SET next_offset = excluded.next_offset, committed_at = excluded.committed_at`, txids),
		deleteTxIDs: fmt.Sprintf(`DELETE FROM %s WHERE stream = $1`, txids),

		notify: `SELECT pg_notify('syncd', $1)`,
	}
}
