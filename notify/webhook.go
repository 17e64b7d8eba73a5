package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/cset-project/cset/config"
)

// Headers of a webhook request.
const (
	HeaderSignature = "X-Cset-Signature" // sha256=<hex HMAC-SHA256 of the body>, with a secret
	HeaderEventID   = "X-Cset-Event-Id"  // the notification's id
	HeaderEventSeq  = "X-Cset-Event-Seq"
)

// Webhook POSTs one notification per request as JSON. Any 2xx answer delivers it.
type Webhook struct {
	url    string
	secret []byte
	client *http.Client
}

// NewWebhook builds the webhook of a validated sink, reading its secret and CA files.
func NewWebhook(cfg config.NotifySink) (*Webhook, error) {
	w := &Webhook{url: cfg.URL}
	if cfg.SecretFile != "" {
		b, err := os.ReadFile(cfg.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("notify sink %s: secret_file: %w", cfg.Name, err)
		}
		w.secret = bytes.TrimRight(b, "\r\n")
		if len(w.secret) == 0 {
			return nil, fmt.Errorf("notify sink %s: secret_file %s is empty: put the HMAC key in it, or drop secret_file to send unsigned requests", cfg.Name, cfg.SecretFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("notify sink %s: ca_file: %w", cfg.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("notify sink %s: ca_file %s holds no PEM certificate", cfg.Name, cfg.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	// Redirects are not followed: a POST that a receiver moved is a configuration to fix.
	w.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return w, nil
}

// Sign returns the X-Cset-Signature value of body under secret: "sha256=" and the hex
// HMAC-SHA256.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Deliver POSTs n; an answer other than 2xx is an error (with the start of the answer's body).
func (w *Webhook) Deliver(ctx context.Context, n *Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "csetd-notify")
	req.Header.Set(HeaderEventID, n.ID)
	req.Header.Set(HeaderEventSeq, strconv.FormatUint(n.Seq, 10))
	if w.secret != nil {
		req.Header.Set(HeaderSignature, Sign(w.secret, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection is reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %s: %s", resp.Status, strings.TrimSpace(string(snippet)))
	}
	return nil
}

// Close closes the idle connections.
func (w *Webhook) Close() error {
	w.client.CloseIdleConnections()
	return nil
}
