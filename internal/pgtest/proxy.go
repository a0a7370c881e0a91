package pgtest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Proxy stands between clients and a server, on a Unix socket of its own
// and on a TCP port of 127.0.0.1, so that a test can drop the network
// under a client: cut every connection (the client sees it closed), or
// blackhole it (the connection stays open and nothing ever comes back:
// the case where a client without a deadline waits forever), then
// restore it. A trigger fires at an exact moment of the protocol: when
// a message holding some bytes passes, before or after it is forwarded
// (the COMMIT a client sends, the server's answer to it).
type Proxy struct {
	dir    string // its socket: dir/.s.PGSQL.5432, as libpq names it
	target string // the server's socket
	unix   net.Listener
	tcp    net.Listener

	mu       sync.Mutex
	mode     Mode
	links    map[*link]bool
	triggers []*Trigger
	closed   bool
}

// Mode is what the proxy does with the traffic.
type Mode int

const (
	// Pass forwards everything: the network is up.
	Pass Mode = iota
	// Cut closes every connection, and closes new ones as soon as they
	// are accepted: a server gone, or a link that resets.
	Cut
	// Blackhole forwards nothing and answers nothing, holding every
	// connection open, new ones included: a cable pulled, a firewall
	// that drops.
	Blackhole
)

func (m Mode) String() string { return [...]string{"pass", "cut", "blackhole"}[m] }

// Direction is which way a message travels.
type Direction int

const (
	ToServer Direction = iota
	ToClient
)

// Trigger switches the proxy to Then when Match has passed in Dir for
// the Nth time (1: the first), Before the chunk holding it is forwarded
// (the chunk is dropped) or after. Fired is closed when it fires.
type Trigger struct {
	Dir    Direction
	Match  string
	Nth    int
	Before bool
	Then   Mode
	Fired  chan struct{}
	seen   int
}

// NewProxy starts a proxy to s for t, passing traffic; it is closed when
// t ends.
func NewProxy(t testing.TB, s *Server) *Proxy {
	t.Helper()
	dir, err := os.MkdirTemp(shortTemp(), "pgtest-proxy-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	p := &Proxy{dir: dir, target: filepath.Join(s.dir, ".s.PGSQL.5432"), links: map[*link]bool{}}
	if p.unix, err = net.Listen("unix", filepath.Join(dir, ".s.PGSQL.5432")); err == nil {
		p.tcp, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("pgtest: proxy: %v", err)
	}
	go p.serve(p.unix)
	go p.serve(p.tcp)
	t.Cleanup(func() {
		p.close()
		os.RemoveAll(dir)
	})
	return p
}

// shortTemp is a base for socket directories (a Unix socket's path is at
// most 107 bytes).
func shortTemp() string {
	if base := os.TempDir(); len(base) <= 60 {
		return base
	}
	return "/tmp"
}

// URL is the URL of database name through the proxy's Unix socket.
func (p *Proxy) URL(name string) string {
	return "postgres:///" + name + "?host=" + p.dir + "&user=" + User
}

// TCPURL is the URL of database name through the proxy's TCP port.
func (p *Proxy) TCPURL(name string) string {
	return fmt.Sprintf("postgres://%s@%s/%s", User, p.tcp.Addr(), name)
}

// Set puts the proxy in mode m now. Cut closes every connection; a
// blackhole holds them; Pass lets new connections through, and closes
// those a blackhole held (what they sent meanwhile is lost: they could
// only go on with a corrupt stream).
func (p *Proxy) Set(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setLocked(m)
}

func (p *Proxy) setLocked(m Mode) {
	if m != Blackhole {
		for l := range p.links {
			if m == Cut || l.held {
				l.close()
				delete(p.links, l)
			}
		}
	}
	if m == Blackhole {
		for l := range p.links {
			l.held = true
		}
	}
	p.mode = m
}

// On arms a trigger. Several may be armed; each fires once.
func (p *Proxy) On(tr *Trigger) *Trigger {
	if tr.Nth == 0 {
		tr.Nth = 1
	}
	tr.Fired = make(chan struct{})
	p.mu.Lock()
	p.triggers = append(p.triggers, tr)
	p.mu.Unlock()
	return tr
}

// Conns is how many connections the proxy holds now.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	for l := range p.links {
		l.close()
	}
	p.links = nil
	p.mu.Unlock()
	p.unix.Close()
	p.tcp.Close()
}

// link is one client's connection and the proxy's to the server.
type link struct {
	client, server net.Conn
	held           bool // blackholed: nothing more is forwarded
	once           sync.Once
}

func (l *link) close() {
	l.once.Do(func() {
		l.client.Close()
		if l.server != nil {
			l.server.Close()
		}
	})
}

func (p *Proxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go p.accept(c)
	}
}

func (p *Proxy) accept(c net.Conn) {
	l := &link{client: c}
	p.mu.Lock()
	switch {
	case p.closed || p.mode == Cut:
		p.mu.Unlock()
		c.Close()
		return
	case p.mode == Blackhole:
		// Accepted, never answered: held until the mode changes.
		l.held = true
		p.links[l] = true
		p.mu.Unlock()
		io.Copy(io.Discard, c)
		return
	}
	p.links[l] = true
	p.mu.Unlock()
	s, err := net.Dial("unix", p.target)
	if err != nil {
		p.drop(l)
		return
	}
	p.mu.Lock()
	if !p.links[l] {
		p.mu.Unlock()
		s.Close()
		return
	}
	l.server = s
	p.mu.Unlock()
	go p.pipe(l, ToServer, c, s)
	p.pipe(l, ToClient, s, c)
}

func (p *Proxy) drop(l *link) {
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
	l.close()
}

// pipe forwards one direction chunk by chunk, letting the triggers and
// the mode decide each chunk's fate.
func (p *Proxy) pipe(l *link, d Direction, from, to net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			p.mu.Lock()
			var after []*Trigger
			for _, tr := range p.triggers {
				if tr.seen >= tr.Nth || tr.Dir != d {
					continue
				}
				tr.seen += bytes.Count(chunk, []byte(tr.Match))
				if tr.seen < tr.Nth {
					continue
				}
				if tr.Before {
					// Said fired first: the client may see the cut at once.
					close(tr.Fired)
					p.setLocked(tr.Then)
				} else {
					after = append(after, tr)
				}
			}
			forward := !l.held && p.links[l]
			p.mu.Unlock()
			if forward {
				if _, werr := to.Write(chunk); werr != nil {
					p.drop(l)
					return
				}
			}
			if len(after) > 0 {
				p.mu.Lock()
				for _, tr := range after {
					close(tr.Fired)
					p.setLocked(tr.Then)
				}
				p.mu.Unlock()
			}
		}
		if err != nil {
			p.mu.Lock()
			held := l.held && p.links[l]
			p.mu.Unlock()
			if !held {
				p.drop(l)
			}
			return
		}
	}
}
