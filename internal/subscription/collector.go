package subscription

import "github.com/prometheus/client_golang/prometheus"

// Collector exports the state of the schedulers at scrape time, one series
// per subscription (never per stream, so it stays small at any scale).
type Collector struct {
	scheds []*Scheduler

	claimed, generation, linked, pending, failed, lastAck, acks, wakes *prometheus.Desc
}

// NewCollector returns the gauges and counters of the schedulers.
func NewCollector(scheds ...*Scheduler) *Collector {
	l := []string{"subscription", "pattern"}
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, l, nil) }
	return &Collector{
		scheds:     scheds,
		claimed:    d("syncd_subscription_claimed", "1 while this process holds the subscription's claim."),
		generation: d("syncd_subscription_generation", "Generation of the last claim this process held."),
		linked:     d("syncd_subscription_streams_linked", "Streams linked to the subscription at the last round."),
		pending:    d("syncd_subscription_streams_pending", "Streams of the current round not yet caught up."),
		failed:     d("syncd_subscription_streams_failed", "Streams whose catch-up stopped with an error (skipped until restart)."),
		lastAck:    d("syncd_subscription_last_ack_timestamp_seconds", "Unix time of the last ack the server accepted (absent before the first)."),
		acks:       d("syncd_subscription_acks_total", "Stream offsets acked to the server."),
		wakes:      d("syncd_subscription_wakes_total", "Wake events of the subscription read from the wake stream."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.claimed, c.generation, c.linked, c.pending, c.failed, c.lastAck, c.acks, c.wakes} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.scheds {
		st := s.Status()
		g := func(d *prometheus.Desc, t prometheus.ValueType, v float64) {
			ch <- prometheus.MustNewConstMetric(d, t, v, st.ID, st.Pattern)
		}
		claimed := 0.0
		if st.Claimed {
			claimed = 1
		}
		g(c.claimed, prometheus.GaugeValue, claimed)
		g(c.generation, prometheus.GaugeValue, float64(st.Generation))
		g(c.linked, prometheus.GaugeValue, float64(st.Linked))
		g(c.pending, prometheus.GaugeValue, float64(max(st.Pending, 0)))
		g(c.failed, prometheus.GaugeValue, float64(st.Failed))
		if !st.LastAck.IsZero() {
			g(c.lastAck, prometheus.GaugeValue, float64(st.LastAck.UnixNano())/1e9)
		}
		g(c.acks, prometheus.CounterValue, float64(st.Acks))
		g(c.wakes, prometheus.CounterValue, float64(st.Wakes))
	}
}
