package notify_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/notify"
)

var notification = &notify.Notification{ID: "prod:42", Seq: 42, Time: time.Date(2026, 12, 6, 5, 12, 52, 123456789, time.UTC),
	Kind: "operation", Severity: "warn", Workload: "web", Member: "east", OperationID: "op-1", Message: `failover of web: "east" down [fenced]`,
	Actor: "controller", Set: "prod"}

// rfc5424 is the message of notification from host h with process id p, facility local3 (19).
var rfc5424 = regexp.MustCompile(`^<156>1 2026-12-06T05:12:52\.123456Z h csetd [0-9]+ operation \[cset@32473 id="prod:42" seq="42" set="prod" severity="warn" workload="web" member="east" operation_id="op-1" actor="controller"\] failover of web: "east" down \[fenced\]$`)

func syslogSink(network, addr string) config.NotifySink {
	return config.NotifySink{Name: "siem", Type: config.SinkSyslog, Network: network, Address: addr, Facility: "local3", MinSeverity: "info", Timeout: 2 * time.Second, MaxBackoff: time.Second}
}

func TestSyslog_Format(t *testing.T) {
	t.Parallel()
	s := notify.NewSyslog(syslogSink("udp", "127.0.0.1:514"), "h")
	if got := string(s.Format(notification)); !rfc5424.MatchString(got) {
		t.Errorf("message\n%s\ndoes not match\n%s", got, rfc5424)
	}
	n := *notification
	n.Severity, n.Kind, n.Workload, n.Member, n.OperationID, n.Actor, n.Message = "error", "", "a]b", "", "", "", "x"
	got := string(s.Format(&n))
	if want := `<155>1 2026-12-06T05:12:52.123456Z h csetd `; !strings.HasPrefix(got, want) || !strings.Contains(got, ` - [cset@32473 id="prod:42" seq="42" set="prod" severity="error" workload="a\]b"] x`) {
		t.Errorf("message %s: want severity 3, MSGID -, escaped ] and no empty parameters", got)
	}
}

func TestSyslog_UDP(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := notify.NewSyslog(syslogSink("udp", pc.LocalAddr().String()), "h")
	defer s.Close()
	for range 2 {
		if err := s.Deliver(context.Background(), notification); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		_ = pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:n]); !rfc5424.MatchString(got) {
			t.Errorf("datagram %q is not the message", got)
		}
	}
}

func TestSyslog_TCPOctetCounting(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := notify.NewSyslog(syslogSink("tcp", l.Addr().String()), "h")
	defer s.Close()
	// Two messages on one connection, each framed as "LEN SP MSG" (RFC 6587, 3.4.1).
	for range 2 {
		if err := s.Deliver(context.Background(), notification); err != nil {
			t.Fatal(err)
		}
	}
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	for i := range 2 {
		lenField, err := r.ReadString(' ')
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(lenField))
		if err != nil {
			t.Fatalf("frame %d: length %q: %v", i, lenField, err)
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(r, msg); err != nil {
			t.Fatal(err)
		}
		if !rfc5424.Match(msg) {
			t.Errorf("frame %d %q is not the message", i, msg)
		}
	}
	// The server drops the connection: a write fails within a few deliveries (TCP tells the
	// writer only at the write after the peer's reset), and the next one connects again.
	accepted := make(chan net.Conn, 1)
	go func() {
		if c2, err := l.Accept(); err == nil {
			accepted <- c2
		}
	}()
	c.Close()
	poll.Eventually(t, "a new connection after the server closed the first", func() error {
		_ = s.Deliver(context.Background(), notification)
		select {
		case c2 := <-accepted:
			c2.Close()
			return nil
		default:
			return errors.New("no new connection yet")
		}
	})
}
