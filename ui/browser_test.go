package ui_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/color/palette"
	"image/draw"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/cset-project/cset/internal/testutil"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write the browser test's screenshots to docs/images/ (docs/console.md shows them)")

// findChromium returns the path of a headless-capable Chromium, or skips the test when there is
// none, unless CI is set: there the browser test must run.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("CSET_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "no Chromium found (looked for chromium, chromium-browser, google-chrome, $CSET_CHROMIUM): the web console's browser tests need Debian's chromium (apt-get install chromium)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; CI is set, so this is a failure")
	}
	t.Skip(msg + "; skipped (set CI=1 to make it a failure)")
	return ""
}

// browser starts a headless Chromium for the test and returns its context.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := findChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1280, 1000),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() { cancelC(); cancelA() })
	// Start the browser now, so a broken installation fails here clearly. (The first call's
	// context owns the browser: no deadline of its own, or the browser would die with it.)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium %s: %v", path, err)
	}
	return ctx
}

// waitJS waits, at most d, until the JavaScript expression is truthy in the page.
func waitJS(t *testing.T, ctx context.Context, what, expr string, d time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[any](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(d))); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('#confirm').open ? 'DIALOG: ' + document.querySelector('#confirm').innerText + '\n' : '') + document.querySelector('#error').innerText + '\n' + document.body.innerText.slice(0, 2500)`))
		t.Fatalf("waiting %v for %s: %v\npage:\n%s", d, what, err, page)
	}
}

func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(c, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// screenshot saves the viewport as docs/images/NAME.png with -update-screenshots.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if !*updateScreenshots {
		return
	}
	small, err := shrinkPNG(shot)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join("..", "docs", "images", name+".png")
	if err := os.WriteFile(path, small, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", path, len(small))
}

// shrinkPNG re-encodes a screenshot with a 256-colour palette and the best compression, so the
// committed images stay small; the page's flat colours survive it.
func shrinkPNG(b []byte) ([]byte, error) {
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	pal := image.NewPaletted(img.Bounds(), palette.Plan9)
	draw.Draw(pal, img.Bounds(), img, img.Bounds().Min, draw.Src)
	var out bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&out, pal); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// cell is the JavaScript text of a cell of a workload's row.
func cell(workload, class string) string {
	return fmt.Sprintf(`(document.querySelector('#workloads tr[data-workload=%q] td.%s') || {}).textContent`, workload, class)
}

// TestBrowser_DevSet drives the console in headless Chromium against a dev set: the page loads
// and shows the three workloads; moving web through the confirmation dialog shows its
// operation's phases and then the new DNS answer; killing the member it runs on in the
// simulator shows the failover live, in the workloads table and in the event timeline; stopping
// and starting web empties and restores its DNS answer; web's page shows its placement ranking
// and history; drain and undrain go through their dialogs, and a cancelled declare-down sends
// nothing.
func TestBrowser_DevSet(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not with -short")
	}
	bctx := browser(t)
	d := startDevSet(t, setOptions{})
	ctx, cancel := context.WithTimeout(bctx, 4*time.Minute)
	defer cancel()
	began := time.Now()

	if err := chromedp.Do(ctx, chromedp.Navigate(d.base)); err != nil {
		t.Fatal(err)
	}
	// Load: three workloads, each Online with its DNS answer, and the event stream live.
	waitJS(t, ctx, "three workloads", `document.querySelectorAll('#workloads tbody tr').length === 3`, 30*time.Second)
	waitJS(t, ctx, "every workload Online with a DNS answer",
		`[...document.querySelectorAll('#workloads tbody tr')].every(r => r.querySelector('td.status').textContent === 'Online' && r.querySelector('td.dns').textContent !== '—')`, 90*time.Second)
	waitJS(t, ctx, "the event stream live", `document.querySelector('#stream-state').dataset.live === '1' && document.querySelectorAll('#events li').length > 0`, 30*time.Second)
	waitJS(t, ctx, "web's probe reachable", cell("web", "probe")+` === 'reachable'`, 60*time.Second)
	waitJS(t, ctx, "the servers with the groups they run", `/runs .*web/.test(document.querySelector('#members tbody').textContent)`, 30*time.Second)
	screenshot(t, ctx, "console-set")

	from := strings.TrimSpace(strings.Split(evalJS[string](t, ctx, cell("web", "placement")), "/")[0])
	to := map[string]string{"east": "west", "west": "east"}[from]
	if to == "" {
		t.Fatalf("web runs on %q, want east or west", from)
	}
	oldDNS, newDNS := d.addrs[from][0], d.addrs[to][0]
	if got := evalJS[string](t, ctx, cell("web", "dns")); got != oldDNS {
		t.Fatalf("web's DNS answer = %q, want %s (its address on %s)", got, oldDNS, from)
	}

	// Record every phase the page shows for web, however briefly.
	evalJS[any](t, ctx, `window.__phases = []; new MutationObserver(() => {
		const p = `+cell("web", "phase")+`;
		if (p && window.__phases[window.__phases.length-1] !== p) window.__phases.push(p);
	}).observe(document.querySelector('#workloads tbody'), {subtree: true, childList: true, characterData: true}); true`)

	// Move web: the dialog states the consequence; confirm.
	click(t, ctx, `#workloads tr[data-workload="web"] button[data-action="move"]`)
	waitJS(t, ctx, "the move dialog", `document.querySelector('#confirm').open`, 10*time.Second)
	body := evalJS[string](t, ctx, `document.querySelector('#confirm-body').textContent`)
	if !strings.Contains(body, "unavailable in between") || !strings.Contains(body, "DNS") {
		t.Errorf("the move dialog does not state the consequence: %q", body)
	}
	if got := evalJS[string](t, ctx, `document.querySelector('#move-target').value`); got != to {
		t.Fatalf("the move dialog offers %q, want %s", got, to)
	}
	// db runs in web's soft availability set: the API refuses, and the dialog says why, until
	// the move is forced.
	click(t, ctx, `#confirm-ok`)
	waitJS(t, ctx, "the API's refusal in the dialog", `!document.querySelector('#confirm-error').hidden && /FailedPrecondition/.test(document.querySelector('#confirm-error').textContent)`, 30*time.Second)
	click(t, ctx, `#move-force`)
	click(t, ctx, `#confirm-ok`)
	waitJS(t, ctx, "the move accepted", `!document.querySelector('#confirm').open`, 30*time.Second)
	waitJS(t, ctx, "web's phase column showing the move", `window.__phases.some(p => p !== '—')`, 30*time.Second)
	screenshot(t, ctx, "console-move")
	waitJS(t, ctx, "web on "+to+" with its new DNS answer",
		fmt.Sprintf(`%s.startsWith(%q) && %s === 'Online' && %s === %q && %s === '—'`, cell("web", "placement"), to, cell("web", "status"), cell("web", "dns"), newDNS, cell("web", "phase")), 90*time.Second)
	phases := evalJS[[]string](t, ctx, `window.__phases`)
	t.Logf("web's phases as the page showed them: %v (move took until %v)", phases, time.Since(began).Round(time.Millisecond))

	// Kill the member web now runs on: the failover appears live.
	resp, err := http.Post(d.sim.ControlURL()+"/sim/v1/clusters/"+to+"/down", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("sim: kill %s: %s", to, resp.Status)
	}
	killed := time.Now()
	waitJS(t, ctx, to+" no longer up", fmt.Sprintf(`(document.querySelector('#members tr[data-member=%q] td.health') || {}).textContent.split(' ')[0] !== 'up'`, to), 60*time.Second)
	waitJS(t, ctx, "a failover of web in the live timeline",
		`[...document.querySelectorAll('#events li')].some(li => li.dataset.workload === 'web' && /failover/.test(li.textContent))`, 120*time.Second)
	waitJS(t, ctx, "web back on "+from+" with its DNS answer",
		fmt.Sprintf(`%s.startsWith(%q) && %s === 'Online' && %s === %q`, cell("web", "placement"), from, cell("web", "status"), cell("web", "dns"), oldDNS), 120*time.Second)
	t.Logf("failover seen in the page %v after the kill", time.Since(killed).Round(time.Millisecond))
	screenshot(t, ctx, "console-failover")

	// The timeline filter.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#filter-text`), "failover web")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the filter hiding other events",
		`[...document.querySelectorAll('#events li')].every(li => li.hidden || /failover/.test(li.textContent)) && [...document.querySelectorAll('#events li')].some(li => li.hidden)`, 10*time.Second)

	// Stop web, then start it again: the DNS column empties and comes back.
	click(t, ctx, `#workloads tr[data-workload="web"] button[data-action="stop"]`)
	waitJS(t, ctx, "the stop dialog", `document.querySelector('#confirm').open && /DNS stops answering/.test(document.querySelector('#confirm-body').textContent)`, 10*time.Second)
	click(t, ctx, `#confirm-ok`)
	waitJS(t, ctx, "web stopped, without a DNS answer",
		fmt.Sprintf(`!document.querySelector('#confirm').open && %s === 'offline' && %s !== 'Online' && %s === '—'`, cell("web", "desired"), cell("web", "status"), cell("web", "dns")), 60*time.Second)
	click(t, ctx, `#workloads tr[data-workload="web"] button[data-action="start"]`)
	waitJS(t, ctx, "the start dialog", `document.querySelector('#confirm').open && /desired online/.test(document.querySelector('#confirm-body').textContent)`, 10*time.Second)
	click(t, ctx, `#confirm-ok`)
	waitJS(t, ctx, "web started again with its DNS answer",
		fmt.Sprintf(`!document.querySelector('#confirm').open && %s === 'online' && %s === 'Online' && %s === %q`, cell("web", "desired"), cell("web", "status"), cell("web", "dns"), oldDNS), 60*time.Second)

	// The workload's page: its history and placement ranking.
	if err := chromedp.Do(ctx, chromedp.Navigate(d.base+"#/workload/web")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "web's page with placement ranking and history",
		`document.querySelectorAll('#wl-placement tbody tr').length >= 2 && document.querySelectorAll('#wl-events tbody tr').length > 3 && document.querySelector('#wl-name').textContent === 'web'`, 30*time.Second)
	if txt := evalJS[string](t, ctx, `document.querySelector('#wl-placement').textContent`); !strings.Contains(txt, to) || !strings.Contains(txt, "rejected") {
		t.Errorf("placement ranking should reject the dead member %s: %q", to, txt)
	}
	screenshot(t, ctx, "console-workload")

	// Back on the set: drain and undrain the surviving member; declare-down is offered only for a
	// member not already down, and cancelling its dialog sends nothing.
	if err := chromedp.Do(ctx, chromedp.Navigate(d.base+"#/")); err != nil {
		t.Fatal(err)
	}
	member := func(m, sel string) string {
		return fmt.Sprintf(`(document.querySelector('#members tr[data-member=%q] %s') || {})`, m, sel)
	}
	waitJS(t, ctx, "the members table", member(from, "td.admin")+`.textContent === 'active'`, 30*time.Second)
	click(t, ctx, fmt.Sprintf(`#members tr[data-member=%q] button[data-action="drain"]`, from))
	waitJS(t, ctx, "the drain dialog", `document.querySelector('#confirm').open && /takes no new workloads/.test(document.querySelector('#confirm-body').textContent)`, 10*time.Second)
	click(t, ctx, `#confirm-ok`)
	waitJS(t, ctx, from+" draining", member(from, "td.admin")+`.textContent === 'draining'`, 30*time.Second)
	click(t, ctx, fmt.Sprintf(`#members tr[data-member=%q] button[data-action="undrain"]`, from))
	waitJS(t, ctx, "the undrain dialog", `document.querySelector('#confirm').open && /active again/.test(document.querySelector('#confirm-body').textContent)`, 10*time.Second)
	click(t, ctx, `#confirm-ok`)
	waitJS(t, ctx, from+" active again", member(from, "td.admin")+`.textContent === 'active'`, 30*time.Second)
	if evalJS[bool](t, ctx, member(to, `button[data-action="down"]`)+` instanceof Element`) {
		t.Errorf("declare-down offered for %s, which is already down", to)
	}
	click(t, ctx, fmt.Sprintf(`#members tr[data-member=%q] button[data-action="down"]`, from))
	waitJS(t, ctx, "the declare-down dialog", `document.querySelector('#confirm').open && /certainly powered off or isolated/.test(document.querySelector('#confirm-body').textContent)`, 10*time.Second)
	click(t, ctx, `#confirm-cancel`)
	waitJS(t, ctx, "the dialog closed", `!document.querySelector('#confirm').open`, 10*time.Second)
	if h := evalJS[string](t, ctx, member(from, "td.health")+`.textContent`); !strings.HasPrefix(h, "up") {
		t.Errorf("%s after a cancelled declare-down: %q", from, h)
	}
	t.Logf("browser test took %v", time.Since(began).Round(time.Millisecond))
}

// TestBrowser_AuthToken: under -auth the page asks for a token, keeps it in the tab's session
// storage (no cookie) and reads the set with it; a wrong token brings the question back.
func TestBrowser_AuthToken(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not with -short")
	}
	bctx := browser(t)
	dir := t.TempDir()
	d := startDevSet(t, setOptions{auth: true, noSim: true, dataDir: dir})
	var admin string
	testutil.Eventually(t, 30*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(dir, "bootstrap-token"))
		admin = strings.TrimSpace(string(b))
		return err
	})
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(d.base)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the token question", `document.querySelector('#login').open`, 30*time.Second)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#login-token`), admin)); err != nil {
		t.Fatal(err)
	}
	click(t, ctx, `#login-ok`)
	waitJS(t, ctx, "the set read with the token", `/served by dev/.test(document.querySelector('#freshness').textContent) && document.querySelector('#stream-state').dataset.live === '1'`, 30*time.Second)
	if c := evalJS[string](t, ctx, `document.cookie`); c != "" {
		t.Errorf("document.cookie = %q, want none", c)
	}
	if got := evalJS[string](t, ctx, `sessionStorage.getItem('cset-token')`); got != admin {
		t.Errorf("session storage holds %q", got)
	}
	// A revoked or wrong token: the page asks again.
	evalJS[any](t, ctx, `sessionStorage.setItem('cset-token', 'cset_wrong'); true`)
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the token question again", `document.querySelector('#login').open && /malformed token/.test(document.querySelector('#error').textContent)`, 30*time.Second)
}
