package consumer

import (
	"context"
	"errors"
	"sync"

	"github.com/syncd-io/syncd/internal/jsonscan"
)

// Read-ahead: while the caller decodes one page of messages, a second
// goroutine reads, splits and validates the next, so that a catch-up uses
// two cores. Pages are handed over whole (a few hundred messages each), so
// the handover costs next to nothing per message, and at most readAheadPages
// of them exist per Reader: memory stays bounded whatever the body's size.
//
// A catch-up is usually many responses (servers cut it into chunks). When a
// response's headers say more is to come, the goroutine requests the next
// response at once, while it splits this body, and goes on splitting the
// next one while the caller still decodes the last pages of the previous:
// the two cores stay busy across response boundaries instead of taking
// turns at each, and the round trip is hidden. The next response is
// the one Next would request (the same offset, PROTOCOL.md 5.6), and Next
// hands it over only when the caller asks for exactly that position.
//
// readAheadPages bounds how far the goroutine runs ahead of the caller.
// Four pages (one 1 MiB catch-up response) kept the two sides waiting for
// each other across response boundaries; 16 cut W1 by 5 % (32: no better).
// Once a read-ahead ends, the free pages but keptPages let their memory go,
// so that a Reader following the live tail holds one page, not sixteen.
const (
	readAheadPages = 16
	keptPages      = 1
	pageBytes      = 256 << 10 // a page is handed over once it holds this much
	maxKeptPage    = 1 << 20   // a page grown past this by a big message is not kept
)

// page is a run of consecutive messages of one body, with their bytes
// copied out of the read buffer, and their scans too unless a Prepared
// takes them (see add).
type page struct {
	data    []byte
	msgs    []Message
	scanned []bool // msgs[i] has scans[i] (no Prepared only)
	scans   []jsonscan.Result
	arena   []jsonscan.Member
	prep    Prepared        // Options.NewPrepared's, or nil
	view    jsonscan.Result // the scan handed to prep.Add, viewed on the page
}

// add copies m into the page.
func (p *page) add(m Message) {
	if p.data == nil {
		p.data = make([]byte, 0, pageBytes+64<<10)
	}
	start := len(p.data)
	p.data = append(p.data, m.Raw...) // earlier messages keep the old array if it moves
	raw := p.data[start:len(p.data):len(p.data)]
	if p.prep != nil {
		// The scan goes to Prepared.Add and nowhere else: it is only viewed
		// in place, not copied into the page (members are as many bytes as
		// the message's), and the message is yielded without it.
		var scan *jsonscan.Result
		if m.Scan != nil {
			p.view = m.Scan.View(raw) // in the page: a local would escape to the heap
			scan = &p.view
		}
		m.Raw, m.Scan = raw, nil
		p.msgs = append(p.msgs, m)
		p.prep.Add(raw, scan)
		return
	}
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
	switch {
	case p.prep != nil:
		m.Prepared, m.Index = p.prep, i
	case p.scanned[i]:
		m.Scan = &p.scans[i]
	}
	return m
}

// reset empties the page for reuse, dropping buffers a big message grew.
func (p *page) reset() {
	if p.prep != nil {
		p.prep.Reset()
	}
	if cap(p.data) > maxKeptPage {
		*p = page{prep: p.prep}
		return
	}
	clear(p.msgs)
	clear(p.scans)
	p.data, p.msgs, p.scanned, p.scans, p.arena = p.data[:0], p.msgs[:0], p.scanned[:0], p.scans[:0], p.arena[:0]
}

// ahead is one response's body as the read-ahead goroutine delivers it.
type ahead struct {
	full chan *page // the body's pages in order; closed after the last

	// Set before full is closed.
	n     int64 // body bytes read
	err   error // why the split ended early (nil: the body was read whole)
	empty bool  // the body held no message

	// taken is closed when the response is handed to the caller: only
	// then does the goroutine split the one after it (requested early), so
	// that it splits at most one response ahead of the caller's.
	taken chan struct{}

	// Set before ready is closed, which happens once the goroutine is done
	// with this response (whether or not it requested another).
	ready   chan struct{}
	next    *Response // the next catch-up response, requested ahead from NextOffset
	nextErr error     // why requesting it failed
}

func newAhead() *ahead {
	return &ahead{full: make(chan *page, readAheadPages), taken: make(chan struct{}), ready: make(chan struct{})}
}

// errInterrupted ends a split that the chain was stopped in (the caller
// left, or its ctx ended): the body was not read whole.
var errInterrupted = errors.New("read-ahead interrupted")

// chain is a read-ahead goroutine and the responses it reads: the first
// one, whose body Next opened, then each next catch-up response it requested
// itself.
type chain struct {
	quit   chan struct{}           // closed to stop the goroutine
	done   chan struct{}           // closed when the goroutine has ended
	ctx    context.Context         // the requests the goroutine sends live under it
	cancel context.CancelCauseFunc // ends them
	first  *call                   // the body Next opened
	tail   *Response               // the latest response handed to the caller
	once   sync.Once               // guards interrupt
}

// newPage returns an empty page with nothing allocated yet.
func (r *Reader) newPage() *page {
	p := new(page)
	if r.opts.NewPrepared != nil {
		p.prep = r.opts.NewPrepared()
	}
	return p
}

// trimPages replaces the free pages that hold memory, but keptPages of
// them, with new ones, and puts the kept ones first in the pool, where the
// next split takes its page: a Reader that follows the live tail (one page
// per response) reuses the same page instead of allocating one each time.
// Every page is free: the read-ahead is over.
func (r *Reader) trimPages() {
	n := len(r.pages)
	kept, rest := make([]*page, 0, keptPages), make([]*page, 0, n)
	for range n {
		p := <-r.pages
		switch {
		case p.data == nil:
			rest = append(rest, p)
		case len(kept) < keptPages:
			kept = append(kept, p)
		default:
			rest = append(rest, r.newPage())
		}
	}
	for _, p := range append(kept, rest...) {
		r.pages <- p
	}
}

// readsOn reports whether a response read whole with err is followed by
// another catch-up response that the goroutine requests ahead: more is to
// come and the offset moved (a response that did not move is paced by
// Next like a retry).
func readsOn(resp *Response, err error) bool {
	return err == nil && !resp.Live && !resp.UpToDate && !resp.Closed && resp.NextOffset != resp.Offset
}

// startChain starts the goroutine with resp, whose body Next opened; the
// requests it sends ahead live under ctx.
func (r *Reader) startChain(ctx context.Context, resp *Response) {
	if r.pages == nil {
		r.pages = make(chan *page, readAheadPages)
		for range readAheadPages {
			r.pages <- r.newPage()
		}
	}
	cctx, cancel := context.WithCancelCause(ctx)
	ch := &chain{
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		ctx:    cctx,
		cancel: cancel,
		first:  resp.body,
		tail:   resp,
	}
	resp.ahead = newAhead()
	close(resp.ahead.taken) // the caller has it
	r.chain = ch
	go r.runChain(cctx, ch, resp)
}

// runChain is the read-ahead goroutine: it splits resp's body into pages,
// and while the headers say more is to come, requests the next response
// and splits that. The next response is requested as soon as the headers
// say there is one, before the body is split, so that its round trip
// overlaps the split; it is split only once the caller has taken the one
// before it, and it is dropped unread if that one is not read whole.
func (r *Reader) runChain(ctx context.Context, ch *chain, resp *Response) {
	defer close(ch.done)
	release := func() {} // ends the context resp was requested under (none for the first)
	for {
		a := resp.ahead
		early := r.requestEarly(ctx, resp)
		r.splitInto(ch, resp)
		release() // the body is closed
		if !readsOn(resp, a.err) {
			early.drop()
			close(a.ready)
			return
		}
		select { // split one response ahead of the caller's at most
		case <-a.taken:
		case <-ch.quit:
			early.drop()
			close(a.ready)
			return
		}
		f := <-early.done
		next, err := f.resp, f.err
		if err == nil && next.body != nil {
			next.ahead = newAhead()
		}
		a.next, a.nextErr = next, err
		close(a.ready)
		if err != nil || next.body == nil {
			early.cancel()
			return
		}
		resp, release = next, early.cancel
	}
}

// earlyRequest is the request of the catch-up response after one whose
// body is being split.
type earlyRequest struct {
	done   chan fetched // receives the request's outcome; nil when there is no request
	cancel context.CancelFunc
}

type fetched struct {
	resp *Response
	err  error
}

// requestEarly requests, in the background, the response after resp when
// resp's headers say one follows (readsOn, before its body is read).
func (r *Reader) requestEarly(ctx context.Context, resp *Response) earlyRequest {
	if !readsOn(resp, nil) {
		return earlyRequest{cancel: func() {}}
	}
	ectx, cancel := context.WithCancel(ctx)
	e := earlyRequest{done: make(chan fetched, 1), cancel: cancel}
	from := Position{Offset: resp.NextOffset, Cursor: resp.Cursor}
	go func() {
		next, err := r.request(ectx, from, false)
		e.done <- fetched{next, err}
	}()
	return e
}

// drop abandons the request: it is cancelled, waited for, and its body, if
// any, closed unread.
func (e earlyRequest) drop() {
	e.cancel()
	if e.done == nil {
		return
	}
	if f := <-e.done; f.err == nil && f.resp.body != nil {
		f.resp.body.close()
	}
}

// splitInto splits resp's body into pages on resp.ahead.full, and closes
// the body.
func (r *Reader) splitInto(ch *chain, resp *Response) {
	a, c := resp.ahead, resp.body
	defer close(a.full)
	defer c.close()
	r.br.Reset(c.resp.Body)
	defer r.br.Reset(nil)
	var p *page
	select {
	case p = <-r.pages:
	case <-ch.quit:
		a.err = errInterrupted
		return
	}
	// handOver passes the page on, unless it is empty, and takes a free
	// one: a page is handed over when full, and whenever the bytes read so
	// far are split, so that a message never waits for bytes the server
	// has not sent yet.
	handOver := func() error {
		if len(p.msgs) == 0 {
			return nil
		}
		a.full <- p // full has room for every page
		select {
		case p = <-r.pages: // a page comes back for each one handed over
			return nil
		case <-ch.quit:
			p = nil
			return errInterrupted
		}
	}
	a.n, a.err = r.sp.split(r.br, func(m Message) error {
		if p.full() {
			if err := handOver(); err != nil {
				return err
			}
		}
		p.add(m)
		return nil
	}, handOver)
	a.empty = r.sp.pos == 0
	switch {
	case p == nil:
	case len(p.msgs) > 0:
		a.full <- p
	default:
		r.pages <- p
	}
}

// consume yields the messages of resp's pages as the goroutine delivers
// them, giving each page back once yielded. It returns emit's first error,
// else how the split ended. If emit fails or panics, the chain is stopped
// before consume returns.
func (r *Reader) consume(resp *Response, emit func(Message) error) (err error) {
	a := resp.ahead
	var p *page // the page being yielded
	defer func() {
		r.peekPage = nil
		if p != nil { // a panic in emit
			p.reset()
			r.pages <- p
			r.stopChain()
		}
	}()
	var stopErr error
	for p = range a.full {
		for i := range p.msgs {
			if stopErr != nil {
				break
			}
			r.peekPage, r.peekAt = p, i
			if e := emit(p.message(i)); e != nil {
				stopErr = e
				r.chain.interrupt(errStopped)
			}
		}
		r.peekPage = nil
		p.reset()
		r.pages <- p
	}
	p = nil
	if stopErr != nil {
		return stopErr
	}
	return a.err
}

// interrupt makes the goroutine stop soon: a blocked body read or request
// returns, and it takes no more pages. It does not wait. Safe to call from
// any goroutine, more than once.
func (ch *chain) interrupt(cause error) {
	ch.once.Do(func() {
		close(ch.quit)
		ch.cancel(cause)
		ch.first.interrupt(cause)
	})
}

// stopChain ends the goroutine, if any, and waits for it: the read buffer
// and splitter are the Reader's and the next response uses them. The pages
// it filled go back to the pool unread, and the connections it opened are
// closed.
func (r *Reader) stopChain() {
	ch := r.chain
	if ch == nil {
		return
	}
	ch.interrupt(errStopped)
	<-ch.done
	r.chain = nil
	drain := func(a *ahead) {
		for p := range a.full { // closed once the goroutine is done with it
			p.reset()
			r.pages <- p
		}
	}
	// The goroutine splits one response ahead at most: the caller's and the
	// next hold every page that is not back. (It closed every body it
	// read, the next one's included, and dropped any requested early.)
	a := ch.tail.ahead
	drain(a)
	if next := a.next; next != nil && next.ahead != nil {
		drain(next.ahead)
	}
	r.trimPages()
}

// takeAhead returns the response the goroutine requested after the one the
// caller read last, if it was requested from `from`: ok is false when there
// is none, and the caller requests `from` itself. err is the request's
// error, for Next to handle as its own.
func (r *Reader) takeAhead(ctx context.Context, from Position) (resp *Response, ok bool, err error) {
	ch := r.chain
	if ch == nil {
		return nil, false, nil
	}
	// The goroutine requests exactly the tail's next offset, if anything:
	// any other position is not waited for.
	if t := ch.tail; from.UpToDate || from.Offset != t.NextOffset || !t.whole {
		r.stopChain()
		return nil, false, nil
	}
	a := ch.tail.ahead
	select {
	case <-a.ready:
	case <-ctx.Done():
		r.stopChain()
		return nil, false, ctx.Err()
	}
	switch {
	case a.next == nil && a.nextErr == nil:
		r.stopChain()
		return nil, false, nil
	case a.nextErr != nil:
		// A request that failed because the read-ahead's own ctx (the first
		// Messages') ended is not the caller's failure: it asks itself.
		cancelled := ch.ctx.Err() != nil
		r.stopChain()
		if cancelled {
			return nil, false, nil
		}
		return nil, true, a.nextErr
	case a.next.body == nil:
		r.stopChain() // the goroutine ended after this request
	default:
		ch.tail = a.next
		close(a.next.ahead.taken)
	}
	resp, err = r.accept(a.next, from)
	return resp, true, err
}

// Peek returns the message k places after the one Messages is yielding,
// if it is already split and in memory (read ahead in the same page), for
// a caller that prepares work ahead (say, prefetching). Like the yielded
// message, it is valid only until the next iteration step; it is yielded
// in its turn as usual. Peek returns false outside Messages' loop and for
// SSE responses.
func (resp *Response) Peek(k int) (Message, bool) {
	r := resp.r
	if r.peekPage == nil || r.last != resp {
		return Message{}, false
	}
	i := r.peekAt + k
	if k < 0 || i >= len(r.peekPage.msgs) {
		return Message{}, false
	}
	return r.peekPage.message(i), true
}
