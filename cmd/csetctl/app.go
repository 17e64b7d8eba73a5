package main

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// Exit codes of csetctl.
const (
	exitOK    = 0 // success
	exitError = 1 // the server, the network or the local environment failed
	exitUsage = 2 // the command line is wrong
)

// Environment variables read by csetctl.
const (
	envAddr      = "CSET_ADDR"
	envPassword  = "CSET_ECX_PASSWORD"
	envRequestID = "CSET_REQUEST_ID"
	envToken     = "CSET_TOKEN"
	envTLSCA     = "CSET_TLS_CA"
	envTLSCert   = "CSET_TLS_CERT"
	envTLSKey    = "CSET_TLS_KEY"
)

const (
	defaultAddr    = "127.0.0.1:7100"
	defaultTimeout = 10 * time.Second
	// maxActor is the longest actor the masters record.
	maxActor = 64
)

// usageError is a mistake on the command line; it exits with exitUsage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// app is one invocation of csetctl: its streams, environment, global flags
// and the lazily dialled connection. It is not safe for concurrent use.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string

	// Global flags.
	addr       string
	output     string
	timeout    time.Duration
	consistent bool
	token      string
	tokenFile  string
	tlsCA      string
	tlsCert    string
	tlsKey     string

	// requestID is sent with every write of this invocation, retries included.
	requestID string
	// actor is sent with every write, for the event log.
	actor string
	// lastWrite records that the latest RPC was a write, for the
	// outcome-unknown hint.
	lastWrite bool
	// reached records that the latest RPC got a connection to a master (its answer, even an
	// error, came from one), so a failure to reach any master is told from a master's answer.
	reached bool

	// pollInterval is the GetOperation period of `workload move --wait`.
	pollInterval time.Duration
	// retryBackoff is the first pause before retrying an Unavailable answer.
	retryBackoff time.Duration
	// maxAttempts bounds the tries of one unary RPC answered Unavailable.
	maxAttempts int
	// completeTimeout bounds the listing behind one shell completion.
	completeTimeout time.Duration

	conn   *grpc.ClientConn
	client apiv1.ClusterSetServiceClient
}

func newApp(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *app {
	return &app{
		stdin:        stdin,
		stdout:       newTermWriter(stdout), // nothing reaches the terminal raw (output.go)
		stderr:       newTermWriter(stderr),
		getenv:       getenv,
		pollInterval: 500 * time.Millisecond,
		retryBackoff: 100 * time.Millisecond,
		maxAttempts:  4,

		completeTimeout: completionTimeout,
	}
}

// run executes args and returns the exit code; errors go to stderr.
func (a *app) run(ctx context.Context, args []string) int {
	defer a.close()
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	return a.report(cmd, err)
}

func (a *app) rootCommand() *cobra.Command {
	addr := a.getenv(envAddr)
	if addr == "" {
		addr = defaultAddr
	}
	root := &cobra.Command{
		Use:   "csetctl",
		Short: "Control a cset cluster set of EXPRESSCLUSTER X clusters",
		Long: `csetctl controls a cset cluster set through the gRPC API of any master (csetd agent).

Output is a table for people by default; -o json prints one stable JSON document
per command (see docs/cli.md). Exit codes: 0 success, 1 error reported by the
server or the environment, 2 usage error.

Environment:
  CSET_ADDR          default for --addr
  CSET_ECX_PASSWORD  ECX password when --password-file is not given
  CSET_REQUEST_ID    request id for writes (retry a write whose outcome is unknown)
  CSET_TOKEN         API token when neither --token nor --token-file is given
  CSET_TLS_CA        default for --tls-ca
  CSET_TLS_CERT      default for --tls-cert
  CSET_TLS_KEY       default for --tls-key`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		Args:              cobra.ArbitraryArgs,
		RunE:              groupRunE,
		PersistentPreRunE: a.checkGlobals,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{msg: err.Error()}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.addr, "addr", addr, "gRPC address HOST:PORT of any master (env CSET_ADDR)")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&a.timeout, "timeout", defaultTimeout, "deadline of each request to the server (0 = none)")
	pf.BoolVar(&a.consistent, "consistent", false, "serve reads through the leader instead of the local state of --addr")
	pf.StringVar(&a.token, "token", "", "API token (visible to other local users: prefer --token-file or CSET_TOKEN)")
	pf.StringVar(&a.tokenFile, "token-file", "", "file holding the API token")
	pf.StringVar(&a.tlsCA, "tls-ca", a.getenv(envTLSCA), "PEM CA that signed the masters' certificates; enables TLS (env CSET_TLS_CA)")
	pf.StringVar(&a.tlsCert, "tls-cert", a.getenv(envTLSCert), "PEM client certificate, for masters run with -tls-verify-clients (env CSET_TLS_CERT)")
	pf.StringVar(&a.tlsKey, "tls-key", a.getenv(envTLSKey), "PEM private key of --tls-cert (env CSET_TLS_KEY)")

	root.AddCommand(
		a.statusCommand(),
		a.raftCommand(),
		a.setCommand(),
		a.memberCommand(),
		a.nodeCommand(),
		a.workloadCommand(),
		a.faultDomainCommand(),
		a.availSetCommand(),
		a.applyCommand(),
		a.rebalanceCommand(),
		a.drillCommand(),
		a.operationCommand(),
		a.eventsCommand(),
		a.snapshotCommand(),
		a.tokenCommand(),
		a.versionCommand(),
		a.genDocsCommand(),
	)
	return root
}

// checkGlobals validates the global flags before any command runs. A completion request
// (cobra's hidden __complete) is let through: its arguments are the command line being
// completed, whose flags cobra parses only later, and suggest checks them then, quietly.
func (a *app) checkGlobals(cmd *cobra.Command, _ []string) error {
	if cmd != nil && cmd.Name() == cobra.ShellCompRequestCmd {
		return nil
	}
	if a.output != "table" && a.output != "json" {
		return usagef("--output %q: use table or json", a.output)
	}
	if _, port, err := net.SplitHostPort(a.addr); err != nil || port == "" {
		return usagef("--addr %q: want HOST:PORT of a master's gRPC listener, e.g. 127.0.0.1:7100", a.addr)
	}
	if a.timeout < 0 {
		return usagef("--timeout %s: must not be negative", a.timeout)
	}
	if err := a.resolveToken(); err != nil {
		return err
	}
	if (a.tlsCert == "") != (a.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	id, err := a.newRequestID()
	if err != nil {
		return err
	}
	a.requestID = id
	a.actor = a.newActor()
	return nil
}

// resolveToken picks the API token: --token, else --token-file, else CSET_TOKEN.
func (a *app) resolveToken() error {
	if a.token != "" && a.tokenFile != "" {
		return usagef("--token and --token-file exclude each other")
	}
	if a.tokenFile != "" {
		b, err := os.ReadFile(a.tokenFile)
		if err != nil {
			return fmt.Errorf("reading --token-file: %w", err)
		}
		a.token = strings.TrimSpace(string(b))
		if a.token == "" {
			return usagef("--token-file %s is empty", a.tokenFile)
		}
	}
	if a.token == "" {
		a.token = strings.TrimSpace(a.getenv(envToken))
	}
	return nil
}

// newActor names the person behind this invocation: csetctl:USER@HOST.
func (a *app) newActor() string {
	actor := "csetctl"
	user := a.getenv("USER")
	if user == "" {
		user = a.getenv("LOGNAME")
	}
	if user != "" {
		actor += ":" + user
		if host, err := os.Hostname(); err == nil && host != "" {
			actor += "@" + host
		}
	}
	if len(actor) > maxActor {
		actor = actor[:maxActor]
	}
	return actor
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

func (a *app) newRequestID() (string, error) {
	if id := a.getenv(envRequestID); id != "" {
		if !requestIDPattern.MatchString(id) {
			return "", usagef("%s %q: use 1-128 letters, digits, '.', '_' or '-'", envRequestID, id)
		}
		return id, nil
	}
	var b [16]byte
	if _, err := cryptorand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating request id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
