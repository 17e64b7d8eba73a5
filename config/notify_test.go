package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidate_Notify(t *testing.T) {
	t.Parallel()
	hook := func(mod func(*NotifySink)) func(*Config) {
		return func(c *Config) {
			s := NotifySink{Name: "ops", Type: SinkWebhook, URL: "https://hooks.example.com/cset"}
			mod(&s)
			c.Notify.Sinks = append(c.Notify.Sinks, s)
		}
	}
	syslog := func(mod func(*NotifySink)) func(*Config) {
		return func(c *Config) {
			s := NotifySink{Name: "siem", Type: SinkSyslog, Address: "syslog.example.com:514"}
			mod(&s)
			c.Notify.Sinks = append(c.Notify.Sinks, s)
		}
	}
	for _, tc := range []struct {
		name string
		set  func(*Config)
		want string // substring of the error; "" = valid
	}{
		{"webhook", hook(func(*NotifySink) {}), ""},
		{"webhook with filters", hook(func(s *NotifySink) {
			s.Kinds, s.MinSeverity, s.Workloads = []string{"operation"}, "warn", []string{"web"}
		}), ""},
		{"syslog over tcp", syslog(func(s *NotifySink) { s.Network, s.Facility = "tcp", "local3" }), ""},
		{"no name", hook(func(s *NotifySink) { s.Name = "" }), `notify sink #1: name "" must be a DNS label`},
		{"upper-case name", hook(func(s *NotifySink) { s.Name = "Ops" }), "must be a DNS label"},
		{"two sinks of one name", func(c *Config) { hook(func(*NotifySink) {})(c); hook(func(*NotifySink) {})(c) }, `notify sink "ops" is listed twice`},
		{"unknown type", hook(func(s *NotifySink) { s.Type = "smtp" }), `type "smtp" is unknown: use webhook or syslog`},
		{"webhook without url", hook(func(s *NotifySink) { s.URL = "" }), "must be an http:// or https:// URL"},
		{"webhook with a syslog address", hook(func(s *NotifySink) { s.Address = "h:514" }), "a webhook takes url"},
		{"syslog without address", syslog(func(s *NotifySink) { s.Address = "" }), "must be HOST:PORT of the syslog server"},
		{"syslog over quic", syslog(func(s *NotifySink) { s.Network = "quic" }), `network "quic" is unknown`},
		{"syslog facility", syslog(func(s *NotifySink) { s.Facility = "daemons" }), `facility "daemons" is unknown`},
		{"syslog with a secret", syslog(func(s *NotifySink) { s.SecretFile = "/etc/cset/hmac" }), "a syslog sink takes address"},
		{"severity", hook(func(s *NotifySink) { s.MinSeverity = "critical" }), `min_severity "critical" is unknown: use info, warn or error`},
		{"backoff", hook(func(s *NotifySink) { s.MaxBackoff = time.Millisecond }), "max_backoff 1ms at least 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			c.NodeID, c.DataDir = "m1", "/tmp/x"
			tc.set(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadFile_NotifyDefaults(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "csetd.yaml")
	const file = `
notify:
  sinks:
    - name: ops-hook
      type: webhook
      url: https://hooks.example.com/cset
      secret_file: /etc/cset/notify-hmac
      min_severity: warn
    - name: siem
      type: syslog
      address: 192.0.2.7:514
`
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default()
	c.NodeID, c.DataDir = "m1", "/tmp/x"
	if err := c.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	hook, sys := c.Notify.Sinks[0], c.Notify.Sinks[1]
	if hook.MinSeverity != "warn" || hook.Timeout != 5*time.Second || hook.MaxBackoff != 30*time.Second || hook.SecretFile != "/etc/cset/notify-hmac" {
		t.Errorf("webhook sink %+v", hook)
	}
	if sys.Network != "udp" || sys.Facility != "daemon" || sys.MinSeverity != "info" || sys.Timeout != 5*time.Second {
		t.Errorf("syslog sink %+v", sys)
	}
}
