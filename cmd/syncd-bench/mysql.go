package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/syncd-io/syncd/internal/sink/mysql"
	"github.com/syncd-io/syncd/internal/state"
)

// defaultMySQL is the local server used when SYNCD_TEST_MYSQL_URL is unset.
const defaultMySQL = "mysql://root@127.0.0.1:3306/"

// mysqlTableDDL is an entity table as syncd creates it on MariaDB, without
// the stream index's hashed name.
const mysqlTableDDL = "CREATE TABLE %s (" +
	"`key` VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL, " +
	"`value` LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL CHECK (JSON_VALID(`value`)), " +
	"`stream` VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL, " +
	"`txid` TEXT, `event_time` DATETIME(6) NULL, `synced_offset` TEXT NOT NULL, `synced_at` DATETIME(6) NOT NULL, " +
	"PRIMARY KEY (`key`), INDEX (`stream`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

// measureMySQL times the W1 and W2 catch-ups into MariaDB (or MySQL) with
// syncd, and the fastest plain load of the same final rows into identical
// tables on the same server, in the same run.
func (b *bench) measureMySQL(ctx context.Context, run int, r map[string]float64) error {
	for _, w := range []*workload{b.w1, b.w2} {
		db := fmt.Sprintf("syncd_bench_%d_%s_%d", os.Getpid(), w.name, run)
		dbURL, drop, err := b.mysqlDatabase(ctx, db)
		if err != nil {
			return err
		}
		t := target{dialect: "mysql", url: dbURL}
		d, rss, err := runOnce(ctx, b.bin, t, w.name+"="+b.srv.StreamURL(w.name))
		if err == nil {
			err = verifyMySQL(ctx, dbURL, w)
		}
		if err != nil {
			drop()
			return fmt.Errorf("%s into mysql: %w", w.name, err)
		}
		load, how, err := plainLoad(ctx, dbURL, finalRows(w))
		drop()
		if err != nil {
			return fmt.Errorf("plain load of %s into mysql: %w", w.name, err)
		}
		key := w.name + "_mysql"
		r[key+"_s"], r[key+"_rss_mb"], r[key+"_load_s"], r[key+"_load_ratio"] = d.Seconds(), mb(rss), load.Seconds(), load.Seconds()/d.Seconds()
		logf("  %s → mysql: %.2f s, peak RSS %.0f MB, verified; fastest plain load of its rows (%s) %.2f s: ratio %.2f",
			w.name, d.Seconds(), mb(rss), how, load.Seconds(), load.Seconds()/d.Seconds())
	}
	return nil
}

// mysqlDatabase creates a fresh database and returns its URL and a func
// that drops it.
func (b *bench) mysqlDatabase(ctx context.Context, name string) (string, func(), error) {
	u, err := url.Parse(b.cfg.mysqlURL)
	if err != nil {
		return "", nil, fmt.Errorf("-mysql: %w", err)
	}
	u.Path = "/" + name
	cfg, err := mysql.ParseURL(u.String())
	if err != nil {
		return "", nil, fmt.Errorf("-mysql: %w", err)
	}
	cfg.DBName = ""
	conn, err := driver.NewConnector(cfg)
	if err != nil {
		return "", nil, err
	}
	server := sql.OpenDB(conn)
	if _, err := server.ExecContext(ctx, "CREATE DATABASE `"+name+"`"); err != nil {
		server.Close()
		return "", nil, fmt.Errorf("create database %s (set SYNCD_TEST_MYSQL_URL or -mysql): %w", name, err)
	}
	return u.String(), func() {
		_, _ = server.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE `"+name+"`")
		server.Close()
	}, nil
}

// openMySQL opens a database/sql handle on a mysql:// URL.
func openMySQL(dbURL string) (*sql.DB, error) {
	cfg, err := mysql.ParseURL(dbURL)
	if err != nil {
		return nil, err
	}
	cfg.AllowAllFiles = false
	conn, err := driver.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}

// verifyMySQL is verifyTables with MySQL's placeholders and quoting.
func verifyMySQL(ctx context.Context, dbURL string, w *workload) error {
	db, err := openMySQL(dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var events int64
	if err := db.QueryRowContext(ctx, `SELECT events_applied FROM syncd_checkpoints WHERE stream = ?`, w.name).Scan(&events); err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	if events != int64(w.events) {
		return fmt.Errorf("checkpoint says %d events applied, want %d", events, w.events)
	}
	for typ, want := range w.want {
		var table string
		if err := db.QueryRowContext(ctx, `SELECT table_name FROM syncd_types WHERE type = ?`, typ).Scan(&table); err != nil {
			return fmt.Errorf("table of type %q: %w", typ, err)
		}
		rows, err := db.QueryContext(ctx, "SELECT `key`, `value` FROM `"+strings.ReplaceAll(table, "`", "``")+"`")
		if err != nil {
			return err
		}
		got, err := digestRows(func(dst ...any) bool { return rows.Next() && rows.Scan(dst...) == nil }, rows.Err)
		rows.Close()
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("type %q: table holds %d rows (checksum %x), want %d (checksum %x)", typ, got.Rows, got.Sum, want.Rows, want.Sum)
		}
	}
	return nil
}

// finalRows is the state a workload leaves, per type: its events decoded
// and coalesced as syncd does, deletes dropped.
func finalRows(w *workload) map[string][]state.Op {
	batch := state.NewBatch()
	for _, body := range w.posts {
		var msgs []json.RawMessage
		if err := json.Unmarshal(body, &msgs); err != nil {
			panic(err) // generated by this program
		}
		for _, m := range msgs {
			if ev := state.Decode(m); ev.Kind == state.KindChange {
				batch.AddChange(ev.Change, "offset")
			}
		}
	}
	out := map[string][]state.Op{}
	for _, op := range batch.Ops() {
		if !op.Delete {
			out[op.Type] = append(out[op.Type], op)
		}
	}
	return out
}

// plainLoad loads rows into fresh tables twice, by multi-row INSERTs and by
// LOAD DATA LOCAL INFILE, each in one transaction, and returns the faster.
func plainLoad(ctx context.Context, dbURL string, rows map[string][]state.Op) (time.Duration, string, error) {
	db, err := openMySQL(dbURL)
	if err != nil {
		return 0, "", err
	}
	defer db.Close()
	best, how := time.Duration(0), ""
	for _, m := range []struct {
		name string
		load func(context.Context, *sql.Tx, string, []state.Op) error
	}{{"multi-row INSERT", insertRows}, {"LOAD DATA LOCAL INFILE", loadData}} {
		tables := map[string]string{}
		for typ := range rows {
			tables[typ] = "load_" + strings.ReplaceAll(m.name, " ", "_")[:4] + "_" + typ
			if _, err := db.ExecContext(ctx, fmt.Sprintf(mysqlTableDDL, "`"+tables[typ]+"`")); err != nil {
				return 0, "", err
			}
		}
		start := time.Now()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, "", err
		}
		for typ, ops := range rows {
			if err := m.load(ctx, tx, tables[typ], ops); err != nil {
				_ = tx.Rollback()
				return 0, "", fmt.Errorf("%s: %w", m.name, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return 0, "", err
		}
		d := time.Since(start)
		logf("    plain load by %s: %.2f s", m.name, d.Seconds())
		if best == 0 || d < best {
			best, how = d, m.name
		}
	}
	return best, how, nil
}

// insertRows writes ops with INSERTs of 2,000 rows.
func insertRows(ctx context.Context, tx *sql.Tx, table string, ops []state.Op) error {
	for len(ops) > 0 {
		n := min(len(ops), 2000)
		var q strings.Builder
		q.WriteString("INSERT INTO `" + table + "` (`key`, `value`, `stream`, `txid`, `event_time`, `synced_offset`, `synced_at`) VALUES ")
		args := make([]any, 0, n*6)
		for i, op := range ops[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, 'bench', ?, ?, ?, UTC_TIMESTAMP(6))")
			args = append(args, op.Key, string(op.Value), nullable(op.TxID), eventTimeOf(op.Timestamp), op.Offset)
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// loadData streams ops as tab-separated text through the driver's reader
// handler into LOAD DATA LOCAL INFILE.
func loadData(ctx context.Context, tx *sql.Tx, table string, ops []state.Op) error {
	pr, pw := io.Pipe()
	name := "syncd_bench_" + table
	driver.RegisterReaderHandler(name, func() io.Reader { return pr })
	defer driver.DeregisterReaderHandler(name)
	go func() {
		esc := strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`)
		var b strings.Builder
		for i, op := range ops {
			txid, ts := `\N`, `\N`
			if op.TxID != "" {
				txid = esc.Replace(op.TxID)
			}
			if t, ok := eventTimeOf(op.Timestamp).(time.Time); ok {
				ts = t.Format("2006-01-02 15:04:05.000000")
			}
			b.WriteString(esc.Replace(op.Key) + "\t" + esc.Replace(string(op.Value)) + "\tbench\t" + txid + "\t" + ts + "\t" + esc.Replace(op.Offset) + "\n")
			if i%1000 == 999 || i == len(ops)-1 {
				if _, err := io.WriteString(pw, b.String()); err != nil {
					return
				}
				b.Reset()
			}
		}
		pw.Close()
	}()
	_, err := tx.ExecContext(ctx, "LOAD DATA LOCAL INFILE 'Reader::"+name+"' INTO TABLE `"+table+"` CHARACTER SET utf8mb4"+
		" FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'"+
		" (`key`, `value`, `stream`, `txid`, `event_time`, `synced_offset`) SET `synced_at` = UTC_TIMESTAMP(6)")
	pr.Close()
	return err
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// eventTimeOf parses an RFC 3339 timestamp into UTC microseconds, or nil.
func eventTimeOf(s string) any {
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	return ts.UTC().Truncate(time.Microsecond)
}
