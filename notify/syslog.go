package notify

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cset-project/cset/config"
)

// sdID is the SD-ID of the structured data of every syslog message: the enterprise number is
// 32473, the one RFC 5612 reserves for documentation, since cset has none of its own.
const sdID = "cset@32473"

// Syslog sends one RFC 5424 message per notification over UDP (one datagram each) or TCP
// (octet-counting framing, RFC 6587). Syslog has no acknowledgement: a datagram the network
// drops, or a TCP message the server loses after it was written, is not sent again.
type Syslog struct {
	network, address string
	facility         int
	hostname         string
	procID           string

	mu   sync.Mutex
	conn net.Conn
}

// NewSyslog builds the syslog sender of a validated sink; hostname is the HOSTNAME field
// ("" = this host's name).
func NewSyslog(cfg config.NotifySink, hostname string) *Syslog {
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	return &Syslog{network: cfg.Network, address: cfg.Address, facility: config.SyslogFacilities[cfg.Facility],
		hostname: header(hostname, 255), procID: strconv.Itoa(os.Getpid())}
}

// syslogSeverity maps an event's severity to a syslog severity: error 3, warn 4, info 6.
func syslogSeverity(s string) int {
	switch s {
	case "error":
		return 3
	case "warn":
		return 4
	}
	return 6
}

// Format returns the RFC 5424 message of n, without framing.
func (s *Syslog) Format(n *Notification) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "<%d>1 %s %s csetd %s %s [%s", s.facility*8+syslogSeverity(n.Severity), n.Time.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
		s.hostname, s.procID, header(n.Kind, 32), sdID)
	for _, p := range [][2]string{{"id", n.ID}, {"seq", strconv.FormatUint(n.Seq, 10)}, {"set", n.Set}, {"severity", n.Severity},
		{"workload", n.Workload}, {"member", n.Member}, {"operation_id", n.OperationID}, {"actor", n.Actor}} {
		if p[1] != "" {
			fmt.Fprintf(&b, ` %s="%s"`, p[0], sdEscape.Replace(p[1]))
		}
	}
	b.WriteString("] ")
	b.WriteString(n.Message)
	return []byte(b.String())
}

// sdEscape escapes an SD-PARAM value (RFC 5424, 6.3.3).
var sdEscape = strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`)

// header makes s a header field: printable US-ASCII without spaces, at most limit long, "-" when
// empty.
func header(s string, limit int) string {
	out := []byte{}
	for i := 0; i < len(s) && len(out) < limit; i++ {
		if c := s[i]; c > 32 && c < 127 {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return string(out)
}

// Deliver writes the message of n; on TCP it is framed as "LEN SP MSG". A failed write drops the
// connection, and the next Deliver connects again.
func (s *Syslog) Deliver(ctx context.Context, n *Notification) error {
	msg := s.Format(n)
	if s.network == "tcp" {
		msg = append([]byte(strconv.Itoa(len(msg))+" "), msg...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		var d net.Dialer
		c, err := d.DialContext(ctx, s.network, s.address)
		if err != nil {
			return err
		}
		s.conn = c
	}
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(5 * time.Second)
	}
	_ = s.conn.SetWriteDeadline(dl)
	if _, err := s.conn.Write(msg); err != nil {
		s.conn.Close()
		s.conn = nil
		return err
	}
	return nil
}

// Close closes the connection, if any.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// NewDeliverer builds the Deliverer of a validated sink.
func NewDeliverer(cfg config.NotifySink, hostname string) (Deliverer, error) {
	switch cfg.Type {
	case config.SinkWebhook:
		return NewWebhook(cfg)
	case config.SinkSyslog:
		return NewSyslog(cfg, hostname), nil
	}
	return nil, fmt.Errorf("notify sink %s: type %q is unknown", cfg.Name, cfg.Type)
}
