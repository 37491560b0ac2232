package lease

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports which streams this replica owns and when their leases
// expire, read from the Manager at scrape time.
type Collector struct {
	m       *Manager
	owned   *prometheus.Desc
	expires *prometheus.Desc
	live    *prometheus.Desc
}

// NewCollector returns the lease gauges of m, to register on a registry.
func NewCollector(m *Manager) *Collector {
	return &Collector{
		m:       m,
		owned:   prometheus.NewDesc("syncd_lease_owned", "1 for each stream whose lease this replica holds.", []string{"stream", "owner"}, nil),
		expires: prometheus.NewDesc("syncd_lease_expires_seconds", "Seconds until this replica's lease of the stream expires unless renewed.", []string{"stream"}, nil),
		live:    prometheus.NewDesc("syncd_lease_replicas", "Live replicas sharing the streams, as of the last heartbeat.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.owned
	ch <- c.expires
	ch <- c.live
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for s, exp := range c.m.Held() {
		ch <- prometheus.MustNewConstMetric(c.owned, prometheus.GaugeValue, 1, s, c.m.Owner())
		ch <- prometheus.MustNewConstMetric(c.expires, prometheus.GaugeValue, exp.Sub(now).Seconds(), s)
	}
	ch <- prometheus.MustNewConstMetric(c.live, prometheus.GaugeValue, float64(c.m.Live()))
}
