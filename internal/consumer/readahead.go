package consumer

import (
	"bufio"

	"github.com/syncd-io/syncd/internal/jsonscan"
)

// Read-ahead: while the caller decodes one page of messages, a second
// goroutine reads, splits and validates the next, so that a catch-up uses
// two cores. Pages are handed over whole (a few hundred messages each), so
// the handover costs next to nothing per message, and at most readAheadPages
// of them exist per Reader: memory stays bounded whatever the body's size.
const (
	readAheadPages = 4
	pageBytes      = 256 << 10 // a page is handed over once it holds this much
	maxKeptPage    = 1 << 20   // a page grown past this by a big message is not kept
)

// page is a run of consecutive messages of one body, with their bytes and
// scans copied out of the read buffer.
type page struct {
	data    []byte
	msgs    []Message
	scanned []bool // msgs[i] has scans[i]
	scans   []jsonscan.Result
	arena   []jsonscan.Member
}

// add copies m into the page.
func (p *page) add(m Message) {
	if p.data == nil {
		p.data = make([]byte, 0, pageBytes+64<<10)
	}
	start := len(p.data)
	p.data = append(p.data, m.Raw...) // earlier messages keep the old array if it moves
	raw := p.data[start:len(p.data):len(p.data)]
	var res jsonscan.Result
	if m.Scan != nil {
		res, p.arena = m.Scan.Clone(raw, p.arena)
	}
	p.scanned = append(p.scanned, m.Scan != nil)
	m.Raw, m.Scan = raw, nil
	p.msgs = append(p.msgs, m)
	p.scans = append(p.scans, res)
}

// full reports whether the page should be handed over.
func (p *page) full() bool { return len(p.data) >= pageBytes }

// message returns the page's i-th message, ready to yield. The page must
// no longer grow: Raw and Scan point into it.
func (p *page) message(i int) Message {
	m := p.msgs[i]
	if p.scanned[i] {
		m.Scan = &p.scans[i]
	}
	return m
}

// reset empties the page for reuse, dropping buffers a big message grew.
func (p *page) reset() {
	if cap(p.data) > maxKeptPage {
		*p = page{}
		return
	}
	clear(p.msgs)
	clear(p.scans)
	p.data, p.msgs, p.scanned, p.scans, p.arena = p.data[:0], p.msgs[:0], p.scanned[:0], p.scans[:0], p.arena[:0]
}

// splitAhead is split with the splitting on a goroutine of its own, a few
// pages ahead of emit. It returns what split returns, once that goroutine
// has ended. When emit returns an error, interrupt is called to make a
// blocked body read return, and the rest of the body is not delivered.
func (r *Reader) splitAhead(br *bufio.Reader, emit func(Message) error, interrupt func()) (int64, error) {
	if r.pages == nil {
		r.pages = make(chan *page, readAheadPages)
		for range readAheadPages {
			r.pages <- new(page)
		}
	}
	free := r.pages
	full := make(chan *page, readAheadPages)
	quit := make(chan struct{})
	var n int64
	var err error
	go func() {
		defer close(full)
		p := <-free
		// handOver passes the page on, unless it is empty, and takes a
		// free one: a page is handed over when full, and whenever the
		// bytes read so far are split, so that a message never waits
		// for bytes the server has not sent yet.
		handOver := func() error {
			if len(p.msgs) == 0 {
				return nil
			}
			select {
			case full <- p:
			case <-quit:
				return errStopped
			}
			p = <-free // a page comes back for each one handed over
			return nil
		}
		n, err = r.sp.split(br, func(m Message) error {
			if p.full() {
				if err := handOver(); err != nil {
					return err
				}
			}
			p.add(m)
			return nil
		}, handOver)
		if len(p.msgs) > 0 {
			full <- p // full has room for every page
			return
		}
		free <- p
	}()
	// The goroutine must be gone before this returns, however it returns
	// (a panic in emit included): the read buffer and splitter are the
	// Reader's, and the next response uses them.
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			close(quit)
			interrupt()
		}
	}
	done := false
	defer func() {
		if !done {
			stop()
			for p := range full {
				p.reset()
				free <- p
			}
		}
	}()
	var stopErr error
	for p := range full {
		for i := range p.msgs {
			if stopErr != nil {
				break
			}
			if e := emit(p.message(i)); e != nil {
				stopErr = e
				stop()
			}
		}
		p.reset()
		free <- p
	}
	done = true
	if stopErr != nil {
		return n, stopErr
	}
	return n, err
}
