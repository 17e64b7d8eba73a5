package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"time"
)

// Sink types of NotifySink.Type.
const (
	SinkWebhook = "webhook"
	SinkSyslog  = "syslog"
)

// NotifyConfig holds the event sinks the leader sends the event ring to (docs/notifications.md).
// Every master must have the same sinks: only the leader sends, and a new leader resumes each
// sink from its cursor in the replicated state.
type NotifyConfig struct {
	Sinks []NotifySink `yaml:"sinks"`
}

// NotifySink is one destination of notifications: a webhook (JSON over HTTP POST) or a syslog
// server (RFC 5424). Validate fills the defaults of the fields left empty.
type NotifySink struct {
	// Name identifies the sink, and its cursor in the replicated state: renaming a sink starts it
	// afresh after the newest event. A DNS label (a-z, 0-9, '-').
	Name string `yaml:"name"`
	// Type is webhook (JSON over HTTP POST) or syslog (RFC 5424).
	Type string `yaml:"type"`

	// URL is the webhook's http:// or https:// URL.
	URL string `yaml:"url"`
	// SecretFile holds the HMAC-SHA256 key of the webhook's X-Cset-Signature header (the whole
	// file, a trailing newline removed); empty sends no signature.
	SecretFile string `yaml:"secret_file"`
	// CAFile is the CA bundle that verifies an https webhook (default: the system pool).
	CAFile string `yaml:"ca_file"`

	// Address is the syslog server's host:port.
	Address string `yaml:"address"`
	// Network is how syslog messages travel: udp (default, one datagram each) or tcp
	// (octet-counting framing, RFC 6587).
	Network string `yaml:"network"`
	// Facility is the syslog facility name (default daemon; local0 ... local7, user, ...).
	Facility string `yaml:"facility"`

	// Kinds, when set, sends only events of these kinds (operation, detection, decision, ...).
	Kinds []string `yaml:"kinds"`
	// MinSeverity sends only events at least this severe: info (default, everything), warn or
	// error.
	MinSeverity string `yaml:"min_severity"`
	// Workloads, when set, sends only events of these workloads (events about no workload are
	// then left out).
	Workloads []string `yaml:"workloads"`

	// Timeout bounds one delivery attempt (default 5s).
	Timeout time.Duration `yaml:"timeout"`
	// MaxBackoff caps the pause between attempts of a failing delivery, which doubles from one
	// second (default 30s). Every failure is retried, in order, until the sink takes the event.
	MaxBackoff time.Duration `yaml:"max_backoff"`
}

// Severities lists the event severities from the least to the most severe.
var Severities = []string{"info", "warn", "error"}

// SyslogFacilities maps the facility names a syslog sink accepts to their codes (RFC 5424).
var SyslogFacilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// validateNotify fills the defaults of every sink and checks them.
func (c *Config) validateNotify() []error {
	var errs []error
	seen := map[string]bool{}
	for i := range c.Notify.Sinks {
		s := &c.Notify.Sinks[i]
		s.fillDefaults()
		what := fmt.Sprintf("notify sink %q", s.Name)
		if s.Name == "" {
			what = fmt.Sprintf("notify sink #%d", i+1)
		}
		for _, err := range s.validate() {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
		if s.Name != "" && seen[s.Name] {
			errs = append(errs, fmt.Errorf("%s is listed twice: give each sink its own name (it keys the sink's cursor)", what))
		}
		seen[s.Name] = true
	}
	return errs
}

func (s *NotifySink) fillDefaults() {
	if s.MinSeverity == "" {
		s.MinSeverity = "info"
	}
	if s.Timeout == 0 {
		s.Timeout = 5 * time.Second
	}
	if s.MaxBackoff == 0 {
		s.MaxBackoff = 30 * time.Second
	}
	if s.Type == SinkSyslog {
		if s.Network == "" {
			s.Network = "udp"
		}
		if s.Facility == "" {
			s.Facility = "daemon"
		}
	}
}

func (s *NotifySink) validate() []error {
	var errs []error
	if !isLabel(s.Name) {
		errs = append(errs, fmt.Errorf("name %q must be a DNS label (1-63 of a-z, 0-9 and '-'), such as ops-webhook", s.Name))
	}
	if !slices.Contains(Severities, s.MinSeverity) {
		errs = append(errs, fmt.Errorf("min_severity %q is unknown: use info, warn or error", s.MinSeverity))
	}
	if s.Timeout < 0 || s.MaxBackoff < time.Second {
		errs = append(errs, fmt.Errorf("timeout %v must be positive and max_backoff %v at least 1s", s.Timeout, s.MaxBackoff))
	}
	switch s.Type {
	case SinkWebhook:
		if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("url %q must be an http:// or https:// URL such as https://hooks.example.com/cset", s.URL))
		}
		if s.Address != "" || s.Network != "" || s.Facility != "" {
			errs = append(errs, errors.New("address, network and facility are for syslog sinks: a webhook takes url"))
		}
	case SinkSyslog:
		if _, _, err := net.SplitHostPort(s.Address); err != nil {
			errs = append(errs, fmt.Errorf("address %q must be HOST:PORT of the syslog server, such as syslog.example.com:514", s.Address))
		}
		if s.Network != "udp" && s.Network != "tcp" {
			errs = append(errs, fmt.Errorf("network %q is unknown: use udp or tcp", s.Network))
		}
		if _, ok := SyslogFacilities[s.Facility]; !ok {
			errs = append(errs, fmt.Errorf("facility %q is unknown: use daemon, user, local0 ... local7 or another RFC 5424 facility name", s.Facility))
		}
		if s.URL != "" || s.SecretFile != "" || s.CAFile != "" {
			errs = append(errs, errors.New("url, secret_file and ca_file are for webhook sinks: a syslog sink takes address"))
		}
	default:
		errs = append(errs, fmt.Errorf("type %q is unknown: use webhook or syslog", s.Type))
	}
	return errs
}

// isLabel reports whether s is a DNS label of a-z, 0-9 and '-'.
func isLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
