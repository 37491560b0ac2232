package mysql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/syncd-io/syncd/internal/state"
)

// loadThreshold is the number of upserts of one type from which LOAD DATA
// LOCAL INFILE replaces multi-row INSERTs: on MariaDB 10.11 it loaded W2's
// rows in about 60% of the INSERTs' time (make bench), but costs a round
// trip more, which small live batches do not earn back.
const loadThreshold = 1000

// loadSeq names the reader handlers of concurrent loads.
var loadSeq atomic.Uint64

// loadEscaper escapes a field of LOAD DATA's default format.
var loadEscaper = strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\x00", `\0`)

// errLoadRefused means the server does not allow LOAD DATA LOCAL INFILE.
var errLoadRefused = errors.New("LOAD DATA LOCAL INFILE refused by the server")

// loadUpserts writes rows (in key order) with LOAD DATA LOCAL INFILE …
// REPLACE, streamed from memory through the driver's reader handler. With
// LOCAL the server turns bad rows into warnings and skips them, so any
// warning fails the statement rather than losing a row silently.
func (t *tx) loadUpserts(ctx context.Context, tbl *entity, rows []*state.Op) error {
	name := fmt.Sprintf("syncd_%d", loadSeq.Add(1))
	pr, pw := io.Pipe()
	driver.RegisterReaderHandler(name, func() io.Reader { return pr })
	defer driver.DeregisterReaderHandler(name)
	go t.writeLoad(pw, rows)
	_, err := t.tx.ExecContext(ctx, "LOAD DATA LOCAL INFILE 'Reader::"+name+"' REPLACE INTO TABLE "+quoteIdent(tbl.Name)+
		" CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'"+
		" (`key`, `value`, `stream`, `txid`, `event_time`, `synced_offset`) SET `synced_at` = UTC_TIMESTAMP(6)")
	_ = pr.Close() // unblocks the writer if the server stopped reading
	var me *driver.MySQLError
	if errors.As(err, &me) && (me.Number == 1148 || me.Number == 3948) {
		return errLoadRefused
	}
	if err != nil {
		return err
	}
	var warnings int
	if err := t.tx.QueryRowContext(ctx, `SELECT @@warning_count`).Scan(&warnings); err != nil {
		return err
	}
	if warnings > 0 {
		return fmt.Errorf("LOAD DATA into %s: the server skipped or changed rows (%d warnings)", tbl.Name, warnings)
	}
	return nil
}

// writeLoad writes rows in LOAD DATA's tab-separated format.
func (t *tx) writeLoad(pw *io.PipeWriter, rows []*state.Op) {
	var b strings.Builder
	stream := loadEscaper.Replace(t.stream)
	for i, op := range rows {
		value := "null" // a change always carries a value; never write SQL NULL
		if op.Value != nil {
			value = string(op.Value)
		}
		txid, at := `\N`, `\N`
		if op.TxID != "" {
			txid = loadEscaper.Replace(op.TxID)
		}
		if ts, ok := eventTime(op.Timestamp).(time.Time); ok {
			at = ts.Format("2006-01-02 15:04:05.000000")
		}
		b.WriteString(loadEscaper.Replace(op.Key) + "\t" + loadEscaper.Replace(value) + "\t" + stream + "\t" +
			txid + "\t" + at + "\t" + loadEscaper.Replace(op.Offset) + "\n")
		if b.Len() >= 256<<10 || i == len(rows)-1 {
			if _, err := io.WriteString(pw, b.String()); err != nil {
				return
			}
			b.Reset()
		}
	}
	_ = pw.Close()
}

// DisableLoadData makes the sink write every upsert with multi-row INSERTs,
// as it does by itself once the server refuses LOAD DATA LOCAL INFILE.
func (s *Sink) DisableLoadData() { s.noLoad.Store(true) }
