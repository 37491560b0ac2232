// Package metrics defines syncd's Prometheus collectors. They are registered
// on a registry passed in (no global state), so tests and embedders get their
// own, and each stream loop records into them through a Stream handle.
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds every counter and histogram syncd exports. A nil *Metrics
// records nothing, so code paths need no checks.
type Metrics struct {
	eventsApplied  *prometheus.CounterVec
	rejects        *prometheus.CounterVec
	commits        *prometheus.CounterVec
	commitDuration *prometheus.HistogramVec
	rowsWritten    *prometheus.CounterVec
	bytesRead      *prometheus.CounterVec
	httpRequests   *prometheus.CounterVec
	reconnects     *prometheus.CounterVec
	retries        *prometheus.CounterVec
	columnNulls    *prometheus.CounterVec
	dbRetries      prometheus.Counter
	aggregate      bool // SYNCD_METRICS_PER_STREAM=off: every stream records as AllStreams
}

// AllStreams is the stream label of the aggregated series recorded when
// per-stream series are off (SYNCD_METRICS_PER_STREAM=off).
const AllStreams = "_all"

// AggregateStreams makes every Stream handle created afterwards record under
// the one label value AllStreams instead of its name: the series count no
// longer grows with the number of streams. Call it before the loops start.
func (m *Metrics) AggregateStreams() {
	if m != nil {
		m.aggregate = true
	}
}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		eventsApplied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncd_events_applied_total",
			Help: "Change events committed, counted before coalescing, by stream and operation.",
		}, []string{"stream", "operation"}),
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncd_rejects_total",
			Help: "Invalid messages committed to syncd_rejects, by stream.",
		}, []string{"stream"}),
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncd_commits_total",
			Help: "Database transactions committed, by stream.",
		}, []string{"stream"}),
		commitDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "syncd_commit_duration_seconds",
			Help:    "Time to write the pending batch and commit, by stream.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14),
		}, []string{"stream"}),
		rowsWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncd_rows_written_total",
			Help: "Row operations written into the open transaction, counted per write after coalescing, by stream and kind (upsert or delete).",
		}, []string{"stream", "kind"}),
		bytesRead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncd_read_bytes_total",
			Help: "Response body bytes read from the stream, by stream.",
		}, []string{"stream"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncd_http_requests_total",
			Help: "HTTP requests to the stream server by stream, mode (catch-up, long-poll, sse) and status code (0: no response).",
		}, []string{"stream", "mode", "status"}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncd_reconnects_total",
			Help: "Live SSE connections re-opened after one ended without the end of the stream, by stream.",
		}, []string{"stream"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncd_retries_total",
			Help: "Requests retried after a transient failure, by stream.",
		}, []string{"stream"}),
		columnNulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncd_column_conversion_nulls_total",
			Help: "Values of mapped columns that did not convert to the column's type and were stored as NULL, by table and column.",
		}, []string{"table", "column"}),
		dbRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "syncd_database_retries_total",
			Help: "Stream transactions rolled back on a database error and retried from the stored checkpoint (the log names the stream and the error).",
		}),
	}
	reg.MustRegister(m.eventsApplied, m.rejects, m.commits, m.commitDuration, m.rowsWritten,
		m.bytesRead, m.httpRequests, m.reconnects, m.retries, m.columnNulls, m.dbRetries)
	return m
}

// Stream returns the recorder of one stream.
func (m *Metrics) Stream(name string) *Stream {
	if m != nil && m.aggregate {
		name = AllStreams
	}
	return &Stream{m: m, name: name}
}

// Stream records one stream's metrics. A Stream from a nil *Metrics records
// nothing.
type Stream struct {
	m    *Metrics
	name string
}

// Commit records a committed transaction.
func (s *Stream) Commit(seconds float64, events map[string]int, rejects, upserts, deletes int) {
	if s == nil || s.m == nil {
		return
	}
	m := s.m
	m.commits.WithLabelValues(s.name).Inc()
	m.commitDuration.WithLabelValues(s.name).Observe(seconds)
	for op, n := range events {
		m.eventsApplied.WithLabelValues(s.name, op).Add(float64(n))
	}
	if rejects > 0 {
		m.rejects.WithLabelValues(s.name).Add(float64(rejects))
	}
	if upserts > 0 {
		m.rowsWritten.WithLabelValues(s.name, "upsert").Add(float64(upserts))
	}
	if deletes > 0 {
		m.rowsWritten.WithLabelValues(s.name, "delete").Add(float64(deletes))
	}
}

// ColumnNulls records n values of a mapped column (SYNCD_CONFIG) that were
// present in a committed row but did not convert to the column's type, so
// the database stored NULL.
func (s *Stream) ColumnNulls(table, column string, n int) {
	if s == nil || s.m == nil || n <= 0 {
		return
	}
	s.m.columnNulls.WithLabelValues(table, column).Add(float64(n))
}

// DatabaseRetry records a transaction rolled back on a database error, to
// be retried from the stored checkpoint. One series for the process: the
// log line says which stream and why.
func (s *Stream) DatabaseRetry() {
	if s == nil || s.m == nil {
		return
	}
	s.m.dbRetries.Inc()
}

// Read records response body bytes read.
func (s *Stream) Read(bytes int64) {
	if s == nil || s.m == nil || bytes <= 0 {
		return
	}
	s.m.bytesRead.WithLabelValues(s.name).Add(float64(bytes))
}

// Request records one HTTP request's outcome.
func (s *Stream) Request(mode string, status int) {
	if s == nil || s.m == nil {
		return
	}
	s.m.httpRequests.WithLabelValues(s.name, mode, strconv.Itoa(status)).Inc()
}

// Reconnect records a live connection re-opened.
func (s *Stream) Reconnect() {
	if s == nil || s.m == nil {
		return
	}
	s.m.reconnects.WithLabelValues(s.name).Inc()
}

// Retry records a retried request.
func (s *Stream) Retry() {
	if s == nil || s.m == nil {
		return
	}
	s.m.retries.WithLabelValues(s.name).Inc()
}
