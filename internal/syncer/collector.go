package syncer

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncd-io/syncd/internal/metrics"
)

// Collector exports the per-stream gauges that are read at scrape time from
// the loops' status: whether each stream is up to date, seconds since its last
// up-to-date commit, its uncommitted events, and whether it stopped. Lag needs
// no offset arithmetic (offsets are opaque).
type Collector struct {
	s *Syncer

	upToDate    *prometheus.Desc
	sinceCommit *prometheus.Desc
	uncommitted *prometheus.Desc
	halted      *prometheus.Desc
	closed      *prometheus.Desc
}

// NewCollector returns the gauges of s, to register on a registry.
func NewCollector(s *Syncer) *Collector {
	l := []string{"stream"}
	return &Collector{
		s:           s,
		upToDate:    prometheus.NewDesc("syncd_up_to_date", "1 when the stream's last commit was at an up-to-date boundary (or its end).", l, nil),
		sinceCommit: prometheus.NewDesc("syncd_seconds_since_up_to_date_commit", "Seconds since the stream's last commit at an up-to-date boundary in this process (absent before the first).", l, nil),
		uncommitted: prometheus.NewDesc("syncd_uncommitted_events", "Change events read but not yet committed.", l, nil),
		halted:      prometheus.NewDesc("syncd_stream_stopped", "1 when the stream stopped on an error (halt policy, 404, 410, ...).", l, nil),
		closed:      prometheus.NewDesc("syncd_stream_closed", "1 when the stream reached its end (Stream-Closed).", l, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.upToDate, c.sinceCommit, c.uncommitted, c.halted, c.closed} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, st := range c.s.Status() {
		ch <- prometheus.MustNewConstMetric(c.upToDate, prometheus.GaugeValue, bool01(st.UpToDate || st.Closed), st.Name)
		if !st.LastCommit.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.sinceCommit, prometheus.GaugeValue, now.Sub(st.LastCommit).Seconds(), st.Name)
		}
		ch <- prometheus.MustNewConstMetric(c.uncommitted, prometheus.GaugeValue, float64(st.Uncommitted), st.Name)
		ch <- prometheus.MustNewConstMetric(c.halted, prometheus.GaugeValue, bool01(st.Halted != ""), st.Name)
		ch <- prometheus.MustNewConstMetric(c.closed, prometheus.GaugeValue, bool01(st.Closed), st.Name)
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// NewAggregateCollector returns the same gauges as NewCollector in one series
// labelled stream="_all" (metrics.AllStreams), for SYNCD_METRICS_PER_STREAM=off,
// keeping the alert expressions meaningful: syncd_up_to_date and
// syncd_stream_closed are 1 only when every stream is, syncd_stream_stopped
// is 1 when any stream stopped, syncd_uncommitted_events sums, and
// syncd_seconds_since_up_to_date_commit is the oldest stream's. Without
// loops (every stream served by a subscription) it exports nothing.
func NewAggregateCollector(s *Syncer) prometheus.Collector {
	return aggregateCollector{NewCollector(s)}
}

type aggregateCollector struct{ c *Collector }

func (a aggregateCollector) Describe(ch chan<- *prometheus.Desc) { a.c.Describe(ch) }

func (a aggregateCollector) Collect(ch chan<- prometheus.Metric) {
	streams := a.c.s.Status()
	if len(streams) == 0 {
		return
	}
	now := time.Now()
	upToDate, closed := 1.0, 1.0
	var uncommitted, halted, since float64
	committed := false
	for _, st := range streams {
		upToDate = min(upToDate, bool01(st.UpToDate || st.Closed))
		closed = min(closed, bool01(st.Closed))
		halted = max(halted, bool01(st.Halted != ""))
		uncommitted += float64(st.Uncommitted)
		if !st.LastCommit.IsZero() {
			committed = true
			since = max(since, now.Sub(st.LastCommit).Seconds())
		}
	}
	const all = metrics.AllStreams
	ch <- prometheus.MustNewConstMetric(a.c.upToDate, prometheus.GaugeValue, upToDate, all)
	if committed {
		ch <- prometheus.MustNewConstMetric(a.c.sinceCommit, prometheus.GaugeValue, since, all)
	}
	ch <- prometheus.MustNewConstMetric(a.c.uncommitted, prometheus.GaugeValue, uncommitted, all)
	ch <- prometheus.MustNewConstMetric(a.c.halted, prometheus.GaugeValue, halted, all)
	ch <- prometheus.MustNewConstMetric(a.c.closed, prometheus.GaugeValue, closed, all)
}
