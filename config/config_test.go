package config

import (
	"strings"
	"testing"
)

func TestValidate_Security(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  func(*Config)
		want string // substring of the error; "" = valid
	}{
		{"defaults are valid", func(*Config) {}, ""},
		{"auth alone", func(c *Config) { c.Auth = true }, ""},
		{"full TLS", func(c *Config) { c.TLS = TLSConfig{Cert: "c", Key: "k", CA: "ca", VerifyClients: true} }, ""},
		{"cert without CA", func(c *Config) { c.TLS = TLSConfig{Cert: "c", Key: "k"} }, "go together"},
		{"key without cert", func(c *Config) { c.TLS.Key = "k" }, "go together"},
		{"CA without cert", func(c *Config) { c.TLS.CA = "ca" }, "need -tls-cert"},
		{"verify clients without cert", func(c *Config) { c.TLS.VerifyClients = true }, "need -tls-cert"},
		{"dev with auth", func(c *Config) { c.ApplyDev(); c.Auth = true }, "-dev is open by design"},
		{"join with auth and no credential", func(c *Config) { c.Auth, c.Join = true, "m1:7100" }, "needs -token-file"},
		{"join with auth and a token file", func(c *Config) { c.Auth, c.Join, c.TokenFile = true, "m1:7100", "t" }, ""},
		{"join with auth and a certificate", func(c *Config) {
			c.Auth, c.Join, c.TLS = true, "m1:7100", TLSConfig{Cert: "c", Key: "k", CA: "ca"}
		}, ""},
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
