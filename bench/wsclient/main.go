// wsclient: a small WebSocket load client for bench/ (Go standard library only, Linux).
//
// It opens -n connections to -url, sends -hello as the first text frame on each, and
// counts a connection ready once a frame containing -ready arrives. Then one OS thread
// reads every socket through one epoll set (level-triggered, one read(2) per ready
// socket), finds bench alerts in the frames (`"text":"bench SEQ SENT_NS`) and records, per
// alert, how many connections have it and the first and last arrival, plus a latency
// histogram (arrival - SENT_NS, both CLOCK_REALTIME on this machine). It checks that each
// socket's `"position":` only goes up, and answers pings.
//
// Control on stdin, one command a line, answers one JSON line on stdout:
//
//	report            counters since the last reset
//	reset             zero the counters
//	wait SEQ N MS     until N connections have alert SEQ, or MS milliseconds
//	quit              close every connection and exit
package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var marker = []byte(`"text":"bench `)
var positionKey = []byte(`"position":`)

type perSeq struct {
	count int64
	last  int64 // latest arrival, ns since epoch
	first int64
	maxUs int64
}

type stats struct {
	mu      sync.Mutex
	frames  int64
	bytes   int64
	alerts  int64
	gaps    int64
	dups    int64
	firstNs int64
	lastNs  int64
	seqs    map[int64]*perSeq
	hist    map[int64]int64 // latency µs rounded to 3 significant figures -> count
	closes  map[int]int64
	errs    int64
	waitSeq int64
	waitN   int64
	waitCh  chan struct{}
}

func newStats() *stats {
	return &stats{seqs: map[int64]*perSeq{}, hist: map[int64]int64{}, closes: map[int]int64{}, waitSeq: -1}
}

func round3(us int64) int64 {
	if us < 1000 {
		return us
	}
	scale := int64(1)
	for us >= 1000 {
		us /= 10
		scale *= 10
	}
	return us * scale
}

var st = newStats()
var open atomic.Int64

type conn struct {
	c       net.Conn // during the handshake
	r       *bufio.Reader
	buf     []byte
	fd      int // after: the socket, read by the epoll loop
	in      []byte
	frag    []byte
	lastPos int64
	wmu     sync.Mutex
}

func (k *conn) writeFrame(opcode byte, payload []byte) error {
	k.wmu.Lock()
	defer k.wmu.Unlock()
	n := len(payload)
	header := make([]byte, 0, 14+n)
	header = append(header, 0x80|opcode)
	switch {
	case n < 126:
		header = append(header, 0x80|byte(n))
	case n < 65536:
		header = append(header, 0x80|126, byte(n>>8), byte(n))
	default:
		header = append(header, 0x80|127)
		header = binary.BigEndian.AppendUint64(header, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	header = append(header, mask[:]...)
	for i := 0; i < n; i++ {
		header = append(header, payload[i]^mask[i%4])
	}
	if k.c != nil {
		_, err := k.c.Write(header)
		return err
	}
	if k.fd < 0 {
		return nil
	}
	_, err := syscall.Write(k.fd, header) // tiny control frames: a full send buffer drops them
	return err
}

// readFrame returns one whole message (continuations joined) and its opcode.
func (k *conn) readFrame() (byte, []byte, error) {
	k.buf = k.buf[:0]
	var opcode byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(k.r, h[:]); err != nil {
			return 0, nil, err
		}
		fin := h[0]&0x80 != 0
		op := h[0] & 0x0f
		n := int64(h[1] & 0x7f)
		if n == 126 {
			var e [2]byte
			if _, err := io.ReadFull(k.r, e[:]); err != nil {
				return 0, nil, err
			}
			n = int64(binary.BigEndian.Uint16(e[:]))
		} else if n == 127 {
			var e [8]byte
			if _, err := io.ReadFull(k.r, e[:]); err != nil {
				return 0, nil, err
			}
			n = int64(binary.BigEndian.Uint64(e[:]))
		}
		if h[1]&0x80 != 0 {
			return 0, nil, errors.New("masked frame from server")
		}
		if op >= 0x8 { // control frame, never fragmented, may interleave
			p := make([]byte, n)
			if _, err := io.ReadFull(k.r, p); err != nil {
				return 0, nil, err
			}
			if op == 0x9 {
				if err := k.writeFrame(0xA, p); err != nil {
					return 0, nil, err
				}
				continue
			}
			if op == 0xA {
				continue
			}
			return op, p, nil // close
		}
		if op != 0 {
			opcode = op
		}
		start := len(k.buf)
		k.buf = append(k.buf, make([]byte, n)...)
		if _, err := io.ReadFull(k.r, k.buf[start:]); err != nil {
			return 0, nil, err
		}
		if fin {
			return opcode, k.buf, nil
		}
	}
}

func dial(u *url.URL, hello []byte, ready []byte, timeout time.Duration) (*conn, error) {
	c, err := net.DialTimeout("tcp", u.Host, timeout)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	var key [16]byte
	_, _ = rand.Read(key[:])
	path := u.RequestURI()
	req := "GET " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key[:]) + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		c.Close()
		return nil, err
	}
	k := &conn{c: c, r: bufio.NewReaderSize(c, 4096), lastPos: -1}
	status, err := k.r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, err
	}
	if !strings.Contains(status, " 101 ") {
		c.Close()
		return nil, fmt.Errorf("upgrade refused: %s", strings.TrimSpace(status))
	}
	for {
		line, err := k.r.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if line == "\r\n" {
			break
		}
	}
	if len(hello) > 0 {
		if err := k.writeFrame(0x1, hello); err != nil {
			c.Close()
			return nil, err
		}
	}
	for {
		op, p, err := k.readFrame()
		if err != nil {
			c.Close()
			return nil, err
		}
		if op == 0x8 {
			c.Close()
			return nil, fmt.Errorf("closed during hello: %q", p)
		}
		if bytes.Contains(p, ready) {
			break
		}
	}
	_ = c.SetDeadline(time.Time{})
	return k, nil
}

func parseInt(b []byte) (int64, int) {
	var v int64
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		v = v*10 + int64(b[i]-'0')
		i++
	}
	return v, i
}

// reader: every ready socket of this process, on one OS thread, through one epoll set.
// A goroutine per socket would cost a scheduler wake-up per frame; here one epoll_wait
// hands over up to 512 ready sockets and each costs one read(2).
type reader struct {
	ep    int
	conns map[int32]*conn
}

func newReader() *reader {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		panic(err)
	}
	return &reader{ep: ep, conns: map[int32]*conn{}}
}

// adopt takes a connection over from the Go runtime: its own fd, non-blocking, in epoll.
func (rd *reader) adopt(k *conn, mu *sync.Mutex) error {
	f, err := k.c.(*net.TCPConn).File()
	if err != nil {
		return err
	}
	fd := int(f.Fd())
	nfd, err := syscall.Dup(fd)
	f.Close()
	if err != nil {
		return err
	}
	leftover := make([]byte, k.r.Buffered())
	_, _ = io.ReadFull(k.r, leftover)
	k.c.Close()
	k.c = nil
	k.fd = nfd
	if err := syscall.SetNonblock(nfd, true); err != nil {
		return err
	}
	k.in = make([]byte, 0, 4096)
	k.in = append(k.in, leftover...)
	mu.Lock()
	rd.conns[int32(nfd)] = k
	mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(nfd)}
	return syscall.EpollCtl(rd.ep, syscall.EPOLL_CTL_ADD, nfd, &ev)
}

func (rd *reader) drop(k *conn, mu *sync.Mutex) {
	_ = syscall.EpollCtl(rd.ep, syscall.EPOLL_CTL_DEL, k.fd, nil)
	_ = syscall.Close(k.fd)
	mu.Lock()
	delete(rd.conns, int32(k.fd))
	mu.Unlock()
	k.fd = -1
	open.Add(-1)
}

func (rd *reader) loop(mu *sync.Mutex) {
	runtime.LockOSThread()
	events := make([]syscall.EpollEvent, 512)
	for {
		n, err := syscall.EpollWait(rd.ep, events, 1000)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			panic(err)
		}
		if n == 0 {
			continue
		}
		now := time.Now().UnixNano()
		st.mu.Lock()
		for _, ev := range events[:n] {
			mu.Lock()
			k := rd.conns[ev.Fd]
			mu.Unlock()
			if k == nil || k.fd < 0 {
				continue
			}
			if len(k.in) == cap(k.in) {
				grown := make([]byte, len(k.in), 2*cap(k.in))
				copy(grown, k.in)
				k.in = grown
			}
			m, err := syscall.Read(k.fd, k.in[len(k.in):cap(k.in)])
			if err == syscall.EAGAIN {
				continue
			}
			if err != nil || m == 0 {
				st.errs++
				rd.drop(k, mu)
				continue
			}
			k.in = k.in[:len(k.in)+m]
			if !k.consume(now) {
				rd.drop(k, mu)
			}
		}
		st.mu.Unlock()
	}
}

// consume handles every whole frame in k.in (st.mu held); false once the socket closed.
func (k *conn) consume(now int64) bool {
	b := k.in
	for {
		if len(b) < 2 {
			break
		}
		fin := b[0]&0x80 != 0
		op := b[0] & 0x0f
		n := int(b[1] & 0x7f)
		h := 2
		if n == 126 {
			if len(b) < 4 {
				break
			}
			n, h = int(binary.BigEndian.Uint16(b[2:4])), 4
		} else if n == 127 {
			if len(b) < 10 {
				break
			}
			n, h = int(binary.BigEndian.Uint64(b[2:10])), 10
		}
		if len(b) < h+n {
			if h+n > cap(k.in) { // make room for a large frame
				grown := make([]byte, len(b), h+n+4096)
				copy(grown, b)
				k.in = grown
				return true
			}
			break
		}
		p := b[h : h+n]
		b = b[h+n:]
		switch {
		case op == 0x9:
			_ = k.writeFrame(0xA, p)
		case op == 0xA:
		case op == 0x8:
			code := 1005
			if len(p) >= 2 {
				code = int(binary.BigEndian.Uint16(p[:2]))
			}
			st.closes[code]++
			_ = k.writeFrame(0x8, p[:min(2, len(p))])
			return false
		default:
			if op != 0 {
				k.frag = k.frag[:0]
			}
			if !fin || op == 0 {
				k.frag = append(k.frag, p...)
				if !fin {
					continue
				}
				p = k.frag
			}
			k.message(p, now)
		}
	}
	// keep the partial frame at the front of the buffer
	k.in = k.in[:copy(k.in, b)]
	return true
}

// message counts one text message (st.mu held).
func (k *conn) message(p []byte, now int64) {
	st.frames++
	st.bytes += int64(len(p))
	if st.firstNs == 0 {
		st.firstNs = now
	}
	st.lastNs = now
	// Order: each socket's positions must only go up (a gap may be an event it may not see).
	if i := bytes.Index(p, positionKey); i >= 0 {
		pos, n := parseInt(p[i+len(positionKey):])
		if n > 0 {
			if k.lastPos >= 0 {
				if pos <= k.lastPos {
					st.dups++
				} else if pos > k.lastPos+1 {
					st.gaps += pos - k.lastPos - 1
				}
			}
			if pos > k.lastPos {
				k.lastPos = pos
			}
		}
	}
	rest := p
	for {
		i := bytes.Index(rest, marker)
		if i < 0 {
			return
		}
		rest = rest[i+len(marker):]
		seq, n := parseInt(rest)
		rest = rest[n:]
		if len(rest) == 0 || rest[0] != ' ' {
			continue
		}
		sent, m := parseInt(rest[1:])
		rest = rest[1+m:]
		st.alerts++
		us := (now - sent) / 1000
		if us < 1 {
			us = 1
		}
		st.hist[round3(us)]++
		s := st.seqs[seq]
		if s == nil {
			s = &perSeq{first: now}
			st.seqs[seq] = s
		}
		s.count++
		s.last = now
		if us > s.maxUs {
			s.maxUs = us
		}
		if seq == st.waitSeq && s.count >= st.waitN && st.waitCh != nil {
			close(st.waitCh)
			st.waitCh = nil
		}
	}
}

type seqReport struct {
	Count   int64 `json:"count"`
	FirstNs int64 `json:"first_ns"`
	LastNs  int64 `json:"last_ns"`
	MaxUs   int64 `json:"max_us"`
}

func report() map[string]any {
	st.mu.Lock()
	defer st.mu.Unlock()
	seqs := map[string]seqReport{}
	for k, v := range st.seqs {
		seqs[strconv.FormatInt(k, 10)] = seqReport{v.count, v.first, v.last, v.maxUs}
	}
	hist := make([][2]int64, 0, len(st.hist))
	for k, v := range st.hist {
		hist = append(hist, [2]int64{k, v})
	}
	closes := map[string]int64{}
	for k, v := range st.closes {
		closes[strconv.Itoa(k)] = v
	}
	return map[string]any{
		"open": open.Load(), "frames": st.frames, "bytes": st.bytes, "alerts": st.alerts,
		"gaps": st.gaps, "dups": st.dups, "first_ns": st.firstNs, "last_ns": st.lastNs,
		"seqs": seqs, "hist_us": hist, "closes": closes, "errors": st.errs,
	}
}

func reset() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.frames, st.bytes, st.alerts, st.gaps, st.dups, st.firstNs, st.lastNs, st.errs = 0, 0, 0, 0, 0, 0, 0, 0
	st.seqs = map[int64]*perSeq{}
	st.hist = map[int64]int64{}
	st.closes = map[int]int64{}
}

func main() {
	target := flag.String("url", "", "ws://host:port/path")
	n := flag.Int("n", 1, "connections")
	hello := flag.String("hello", "", "first text frame to send on each connection")
	ready := flag.String("ready", "", "a connection is ready once a frame contains this")
	concurrency := flag.Int("concurrency", 64, "handshakes in flight")
	timeout := flag.Duration("timeout", 60*time.Second, "to open every connection")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := json.NewEncoder(os.Stdout)
	started := time.Now()
	conns := make([]*conn, 0, *n)
	var cmu sync.Mutex
	var failed atomic.Int64
	var firstErr atomic.Value
	gate := make(chan struct{}, *concurrency)
	rd := newReader()
	go rd.loop(&cmu)
	var wg sync.WaitGroup
	deadline := started.Add(*timeout)
	for i := 0; i < *n; i++ {
		if time.Now().After(deadline) {
			failed.Add(int64(*n - i))
			break
		}
		gate <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-gate }()
			k, err := dial(u, []byte(*hello), []byte(*ready), time.Until(deadline)+time.Second)
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			if err := rd.adopt(k, &cmu); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			open.Add(1)
			cmu.Lock()
			conns = append(conns, k)
			cmu.Unlock()
		}()
	}
	wg.Wait()
	e, _ := firstErr.Load().(string)
	_ = out.Encode(map[string]any{"ready": len(conns), "failed": failed.Load(), "error": e,
		"seconds": time.Since(started).Seconds()})

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fields := strings.Fields(in.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "report":
			_ = out.Encode(report())
		case "reset":
			reset()
			_ = out.Encode(map[string]any{"ok": true})
		case "wait":
			seq, _ := strconv.ParseInt(fields[1], 10, 64)
			want, _ := strconv.ParseInt(fields[2], 10, 64)
			ms, _ := strconv.Atoi(fields[3])
			ch := make(chan struct{})
			st.mu.Lock()
			if s := st.seqs[seq]; s != nil && s.count >= want {
				close(ch)
			} else {
				st.waitSeq, st.waitN, st.waitCh = seq, want, ch
			}
			st.mu.Unlock()
			select {
			case <-ch:
			case <-time.After(time.Duration(ms) * time.Millisecond):
			}
			st.mu.Lock()
			st.waitSeq, st.waitCh = -1, nil
			st.mu.Unlock()
			_ = out.Encode(map[string]any{"ok": true})
		case "quit":
			st.mu.Lock()
			for _, k := range conns {
				if k.fd >= 0 {
					_ = k.writeFrame(0x8, []byte{0x03, 0xe8})
					_ = syscall.Close(k.fd)
					k.fd = -1
				}
			}
			st.mu.Unlock()
			_ = out.Encode(map[string]any{"ok": true})
			return
		}
	}
}
