// soakclient: the live-socket devices of bench/soak.py (Go standard library only, Linux).
//
// It holds -n devices on -url, spread over the partnerships of -partnerships (a,b,c; or one,
// -partnership P): device i (counted from -first) is in partnership i mod k, and the tokens
// (k groups of m, one group a partnership, in the same order) give it member (i / k) mod m of
// its partnership: token (i mod k)*m + (i / k) mod m, its member number in `report` and
// `token`. With one partnership that is token i mod m. Each device starts from position
// -since of its partnership (one value, or one a partnership). As in bench/wsclient, one OS
// thread reads every socket through one epoll set (one read(2) per ready socket, no JSON
// decoding). Per device it keeps the last position, the number of event frames and a digest
// of their positions in the order they came (h = h*1000003 + position, mod 2^64), so the
// driver can compare each device's sequence with the positions the log says it may see. A
// device whose socket closes for any reason (1013 too slow, 1008, an error, EOF) dials again
// and resumes from its last position, as a phone does.
//
// Alerts whose text is `bench SEQ DUE_NS` are timed on arrival (CLOCK_REALTIME, as the
// driver's due time).
//
// Control on stdin, one command a line, each answered with one JSON line on stdout:
//
//	sample          frames, alerts and the latency histogram since the last sample
//	report          every device (member, frames, last, digest, out of order, reconnects)
//	token I TOKEN   member I's fresh token: for the next hellos, and sent to its open sockets
//	hangup K        the next K connected devices, in turn, hang up and resume
//	quit            close every socket and exit
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
	"syscall"
	"time"
)

var marker = []byte(`"text":"bench `)
var positionKey = []byte(`"position":`)

const digestFactor = 1000003

type device struct {
	member     int // its token's index
	partner    int // its partnership's index
	fd         int // -1 while it dials
	in         []byte
	frag       []byte
	last       int64
	frames     int64
	digest     uint64
	disorder   int64
	reconnects int64
	closeCode  int // the code of the server's close frame, 1006 if none came
}

type window struct {
	frames, bytes, alerts int64
	hist                  map[int64]int64 // latency µs, 3 significant figures -> count
}

func newWindow() window { return window{hist: map[int64]int64{}} }

// Everything below is guarded by mu: the epoll loop holds it while it reads a batch.
var (
	mu         sync.Mutex
	devices    []*device
	byFd       = map[int]*device{}
	tokens     []string
	partners   []string
	ep         int
	win        = newWindow()
	total      = newWindow()
	closes     = map[int]int64{}
	open       int64
	dialErrors int64
	lastError  string
	hungUp     int64
	nextHangUp int
)

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

func parseInt(b []byte) (int64, int) {
	var v int64
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		v = v*10 + int64(b[i]-'0')
		i++
	}
	return v, i
}

// masked: one client frame (clients must mask).
func masked(opcode byte, payload []byte) []byte {
	n := len(payload)
	out := make([]byte, 0, 14+n)
	out = append(out, 0x80|opcode)
	switch {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n < 65536:
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	out = append(out, mask[:]...)
	for i := 0; i < n; i++ {
		out = append(out, payload[i]^mask[i%4])
	}
	return out
}

// send writes a small frame to an adopted socket (mu held); a full send buffer drops it.
func (d *device) send(opcode byte, payload []byte) {
	if d.fd >= 0 {
		_, _ = syscall.Write(d.fd, masked(opcode, payload))
	}
}

// readFrame: one whole message during the handshake (pings answered, pongs skipped).
func readFrame(c net.Conn, r *bufio.Reader) (byte, []byte, error) {
	var msg []byte
	var opcode byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return 0, nil, err
		}
		fin, op, n := h[0]&0x80 != 0, h[0]&0x0f, int64(h[1]&0x7f)
		if n == 126 {
			var e [2]byte
			if _, err := io.ReadFull(r, e[:]); err != nil {
				return 0, nil, err
			}
			n = int64(binary.BigEndian.Uint16(e[:]))
		} else if n == 127 {
			var e [8]byte
			if _, err := io.ReadFull(r, e[:]); err != nil {
				return 0, nil, err
			}
			n = int64(binary.BigEndian.Uint64(e[:]))
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(r, p); err != nil {
			return 0, nil, err
		}
		switch {
		case op == 0x9:
			if _, err := c.Write(masked(0xA, p)); err != nil {
				return 0, nil, err
			}
			continue
		case op == 0xA:
			continue
		case op == 0x8:
			return op, p, nil
		}
		if op != 0 {
			opcode = op
		}
		msg = append(msg, p...)
		if fin {
			return opcode, msg, nil
		}
	}
}

func hello(d *device) []byte {
	since := map[string]int64{partners[d.partner]: d.last}
	b, _ := json.Marshal(map[string]any{"op": "hello", "token": tokens[d.member], "since": since})
	return b
}

// dial: the upgrade, the hello and the welcome; returns the socket and what came after.
func dial(u *url.URL, greeting []byte) (net.Conn, []byte, error) {
	c, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		return nil, nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var key [16]byte
	_, _ = rand.Read(key[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key[:]) + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	fail := func(err error) (net.Conn, []byte, error) { c.Close(); return nil, nil, err }
	if _, err := c.Write([]byte(req)); err != nil {
		return fail(err)
	}
	r := bufio.NewReaderSize(c, 4096)
	status, err := r.ReadString('\n')
	if err != nil {
		return fail(err)
	}
	if !strings.Contains(status, " 101 ") {
		return fail(fmt.Errorf("upgrade refused: %s", strings.TrimSpace(status)))
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return fail(err)
		}
		if line == "\r\n" {
			break
		}
	}
	if _, err := c.Write(masked(0x1, greeting)); err != nil {
		return fail(err)
	}
	for {
		op, p, err := readFrame(c, r)
		if err != nil {
			return fail(err)
		}
		if op == 0x8 {
			return fail(fmt.Errorf("closed during hello: %q", p))
		}
		if bytes.Contains(p, []byte(`"welcome"`)) {
			break
		}
		if bytes.Contains(p, []byte(`"error"`)) {
			return fail(fmt.Errorf("refused: %s", p))
		}
	}
	_ = c.SetDeadline(time.Time{})
	leftover := make([]byte, r.Buffered())
	_, _ = io.ReadFull(r, leftover)
	return c, leftover, nil
}

// connect dials until the device is connected (backing off to 2 s), then adopts its socket.
func connect(u *url.URL, d *device, gate chan struct{}, connected func()) {
	backoff := 100 * time.Millisecond
	for {
		mu.Lock()
		greeting := hello(d)
		mu.Unlock()
		gate <- struct{}{}
		c, leftover, err := dial(u, greeting)
		<-gate
		if err == nil {
			err = adopt(d, c, leftover)
		}
		if err == nil {
			connected()
			return
		}
		mu.Lock()
		dialErrors++
		lastError = err.Error()
		mu.Unlock()
		time.Sleep(backoff)
		backoff = min(2*backoff, 2*time.Second)
	}
}

// adopt takes the socket from the Go runtime: its own non-blocking fd in the epoll set.
func adopt(d *device, c net.Conn, leftover []byte) error {
	f, err := c.(*net.TCPConn).File()
	if err != nil {
		c.Close()
		return err
	}
	fd, err := syscall.Dup(int(f.Fd()))
	f.Close()
	c.Close()
	if err != nil {
		return err
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	d.fd, d.closeCode = fd, 1006
	d.in = append(make([]byte, 0, 4096), leftover...)
	byFd[fd] = d
	open++
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return err
	}
	if !d.consume(time.Now().UnixNano()) {
		drop(d, d.closeCode)
	}
	return nil
}

// drop closes a device's socket (mu held) and dials again from its last position; code is
// the server's close code (1006: none came), 0 when the device hung up itself.
func drop(d *device, code int) {
	_ = syscall.EpollCtl(ep, syscall.EPOLL_CTL_DEL, d.fd, nil)
	_ = syscall.Close(d.fd)
	delete(byFd, d.fd)
	d.fd = -1
	d.reconnects++
	if code > 0 {
		closes[code]++
	}
	open--
	go connect(target, d, redialGate, func() {})
}

var target *url.URL
var redialGate = make(chan struct{}, 64)

func loop() {
	runtime.LockOSThread()
	events := make([]syscall.EpollEvent, 512)
	for {
		n, err := syscall.EpollWait(ep, events, 1000)
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
		mu.Lock()
		for _, ev := range events[:n] {
			d := byFd[int(ev.Fd)]
			if d == nil || d.fd < 0 {
				continue
			}
			if len(d.in) == cap(d.in) {
				grown := make([]byte, len(d.in), 2*cap(d.in))
				copy(grown, d.in)
				d.in = grown
			}
			m, err := syscall.Read(d.fd, d.in[len(d.in):cap(d.in)])
			if err == syscall.EAGAIN {
				continue
			}
			if err != nil || m == 0 {
				drop(d, 1006)
				continue
			}
			d.in = d.in[:len(d.in)+m]
			if !d.consume(now) {
				drop(d, d.closeCode)
			}
		}
		mu.Unlock()
	}
}

// consume handles every whole frame in d.in (mu held); false once the server closed it.
func (d *device) consume(now int64) bool {
	b := d.in
	for len(b) >= 2 {
		fin, op, n, h := b[0]&0x80 != 0, b[0]&0x0f, int(b[1]&0x7f), 2
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
			if h+n > cap(d.in) { // room for a large frame
				grown := make([]byte, len(b), h+n+4096)
				copy(grown, b)
				d.in = grown
				return true
			}
			break
		}
		p := b[h : h+n]
		b = b[h+n:]
		switch {
		case op == 0x9:
			d.send(0xA, p)
		case op == 0xA:
		case op == 0x8:
			code := 1005
			if len(p) >= 2 {
				code = int(binary.BigEndian.Uint16(p[:2]))
			}
			d.closeCode = code
			d.send(0x8, p[:min(2, len(p))])
			return false
		default:
			if op != 0 {
				d.frag = d.frag[:0]
			}
			if !fin || op == 0 {
				d.frag = append(d.frag, p...)
				if !fin {
					continue
				}
				p = d.frag
			}
			d.message(p, now)
		}
	}
	d.in = d.in[:copy(d.in, b)] // the partial frame to the front
	return true
}

// message counts one event frame (mu held); other frames (token answers, errors) are skipped.
func (d *device) message(p []byte, now int64) {
	i := bytes.Index(p, positionKey)
	if i < 0 {
		return
	}
	pos, n := parseInt(p[i+len(positionKey):])
	if n == 0 {
		return
	}
	d.frames++
	if pos <= d.last {
		d.disorder++
	} else {
		d.last = pos
	}
	d.digest = d.digest*digestFactor + uint64(pos)
	for _, w := range []*window{&win, &total} {
		w.frames++
		w.bytes += int64(len(p))
	}
	j := bytes.Index(p, marker)
	if j < 0 {
		return
	}
	rest := p[j+len(marker):]
	_, k := parseInt(rest)
	if k == 0 || k >= len(rest) || rest[k] != ' ' {
		return
	}
	due, m := parseInt(rest[k+1:])
	if m == 0 {
		return
	}
	us := max(1, (now-due)/1000)
	for _, w := range []*window{&win, &total} {
		w.alerts++
		w.hist[round3(us)]++
	}
}

func histogram(h map[int64]int64) [][2]int64 {
	out := make([][2]int64, 0, len(h))
	for k, v := range h {
		out = append(out, [2]int64{k, v})
	}
	return out
}

func common() map[string]any {
	c := map[string]int64{}
	var reconnects, disorder int64
	for code, n := range closes {
		c[strconv.Itoa(code)] = n
	}
	for _, d := range devices {
		reconnects += d.reconnects
		disorder += d.disorder
	}
	return map[string]any{"open": open, "closes": c, "reconnects": reconnects, "out_of_order": disorder,
		"dial_errors": dialErrors, "error": lastError, "hung_up": hungUp}
}

func sample() map[string]any {
	mu.Lock()
	defer mu.Unlock()
	out := common()
	out["frames"], out["bytes"], out["alerts"], out["hist_us"] = win.frames, win.bytes, win.alerts, histogram(win.hist)
	win = newWindow()
	return out
}

func report() map[string]any {
	mu.Lock()
	defer mu.Unlock()
	out := common()
	rows := make([][]any, 0, len(devices))
	for _, d := range devices {
		rows = append(rows, []any{d.member, d.frames, d.last, strconv.FormatUint(d.digest, 10), d.disorder, d.reconnects})
	}
	out["devices"] = rows
	out["frames"], out["bytes"], out["alerts"], out["hist_us"] = total.frames, total.bytes, total.alerts, histogram(total.hist)
	return out
}

// hangUp: the next k connected devices (in turn) close their sockets, as a phone losing
// signal does, and resume from their last position.
func hangUp(k int) int {
	mu.Lock()
	defer mu.Unlock()
	done := 0
	for tries := 0; done < k && tries < len(devices); tries++ {
		d := devices[nextHangUp%len(devices)]
		nextHangUp++
		if d.fd >= 0 {
			d.send(0x8, []byte{0x03, 0xe8})
			drop(d, 0)
			hungUp++
			done++
		}
	}
	return done
}

// refresh: member i's fresh token, sent to its open sockets ({"op": "token"}).
func refresh(i int, token string) {
	mu.Lock()
	defer mu.Unlock()
	tokens[i] = token
	b, _ := json.Marshal(map[string]string{"op": "token", "token": token})
	for _, d := range devices {
		if d.member == i {
			d.send(0x1, b)
		}
	}
}

func main() {
	address := flag.String("url", "", "ws://host:port/v1/live")
	n := flag.Int("n", 1, "devices")
	list := flag.String("tokens", "", "members' tokens, comma-separated")
	first := flag.Int("first", 0, "device i signs in as member (first + i) % members")
	sinceList := flag.String("since", "0", "the position devices start from: one, or one a partnership")
	one := flag.String("partnership", "", "the partnership (or -partnerships)")
	several := flag.String("partnerships", "", "the partnerships, comma-separated")
	timeout := flag.Duration("timeout", 120*time.Second, "to connect every device once")
	flag.Parse()
	u, err := url.Parse(*address)
	names := *several
	if names == "" {
		names = *one
	}
	partners, tokens = strings.Split(names, ","), strings.Split(*list, ",")
	since, sinceErr := positions(*sinceList, len(partners))
	if err != nil || *list == "" || names == "" || len(tokens)%len(partners) != 0 || sinceErr != nil {
		fmt.Fprintln(os.Stderr, "usage: soakclient -url URL -tokens T1,T2 (-partnership P | -partnerships P1,P2)"+
			" [-n N] [-first F] [-since S | -since S1,S2] (tokens: the same number a partnership)")
		os.Exit(2)
	}
	target = u
	members := len(tokens) / len(partners)
	if ep, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
		panic(err)
	}
	go loop()
	started := time.Now()
	var ready sync.WaitGroup
	gate := make(chan struct{}, 64)
	for i := 0; i < *n; i++ {
		g, k := *first+i, len(partners)
		p := g % k
		d := &device{member: p*members + (g/k)%members, partner: p, fd: -1, last: since[p]}
		devices = append(devices, d)
		ready.Add(1)
		go connect(u, d, gate, ready.Done)
	}
	done := make(chan struct{})
	go func() { ready.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(*timeout):
	}
	out := json.NewEncoder(os.Stdout)
	mu.Lock()
	connected := open
	mu.Unlock()
	_ = out.Encode(map[string]any{"ready": connected, "failed": int64(*n) - connected, "error": lastError,
		"seconds": time.Since(started).Seconds()})
	commands(out)
}

// positions: "S" for every partnership, or "S1,S2,..." one a partnership.
func positions(list string, k int) ([]int64, error) {
	fields := strings.Split(list, ",")
	if len(fields) != 1 && len(fields) != k {
		return nil, fmt.Errorf("-since: %d values for %d partnerships", len(fields), k)
	}
	out := make([]int64, k)
	for i := range out {
		v, err := strconv.ParseInt(fields[min(i, len(fields)-1)], 10, 64)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func commands(out *json.Encoder) {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64*1024), 1024*1024)
	for in.Scan() {
		fields := strings.Fields(in.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "sample":
			_ = out.Encode(sample())
		case "report":
			_ = out.Encode(report())
		case "token":
			i, err := strconv.Atoi(fields[1])
			if err != nil || i < 0 || i >= len(tokens) || len(fields) < 3 {
				_ = out.Encode(map[string]any{"error": errors.New("token I TOKEN").Error()})
				continue
			}
			refresh(i, fields[2])
			_ = out.Encode(map[string]any{"ok": true})
		case "hangup":
			k, _ := strconv.Atoi(fields[len(fields)-1])
			_ = out.Encode(map[string]any{"hung_up": hangUp(k)})
		case "quit":
			mu.Lock()
			for _, d := range devices {
				if d.fd >= 0 {
					d.send(0x8, []byte{0x03, 0xe8})
					_ = syscall.Close(d.fd)
					d.fd = -1
				}
			}
			mu.Unlock()
			_ = out.Encode(map[string]any{"ok": true})
			return
		}
	}
}
