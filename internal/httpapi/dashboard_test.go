package httpapi_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/eventagg/eventagg/internal/httpapi"
)

// chromium finds Debian's headless browser. .ci/run installs it, so under
// CI a missing browser fails the test instead of skipping it.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; .ci/run should have installed it")
	}
	t.Skip("chromium is not installed (apt-get install chromium)")
	return ""
}

// browser starts headless Chromium for one test.
func browser(t *testing.T) context.Context {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

// TestDashboardInBrowser drives headless Chromium against a running server:
// the topics table fills from /stats, the recent-events list from
// /subscribe, and an event published while the page is open appears live.
func TestDashboardInBrowser(t *testing.T) {
	ctx := browser(t)
	a := newApp(t, httpapi.Config{})
	a.publishOK(arr(ev("dash.audit", "a-1", ts), ev("dash.orders", "order-17", ts), ev("dash.orders", "order-18", ts),
		ev("dash.orders", "order-17", ts)))
	if err := chromedp.Do(ctx,
		chromedp.Navigate(a.srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`tr.topic`)),
		chromedp.WaitVisible(chromedp.CSS(`#recent li`)),
	); err != nil {
		t.Fatalf("browser: %v", err)
	}
	table, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#topics`)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dash.audit", "dash.orders"} {
		if !strings.Contains(table, want) {
			t.Errorf("topics table lacks %s: %q", want, table)
		}
	}
	// Follow dash.orders and publish while the page watches.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tr.topic[data-topic="dash.orders"]`))); err != nil {
		t.Fatalf("browser: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("#recent").textContent.includes("order-18")`)); err != nil {
		t.Fatalf("followed topic's recent events never showed: %v", err)
	}
	a.publishOK(ev("dash.orders", "order-live", ts))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("#recent").textContent.includes("order-live")`)); err != nil {
		t.Fatalf("live event never showed: %v", err)
	}
	recent, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#recent`)))
	if err != nil || !strings.Contains(recent, "dash.orders #3 order-live") {
		t.Errorf("recent events %q %v", recent, err)
	}
	if path := os.Getenv("EVENTAGG_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(path, png, 0o644)
	}
}

// TestDashboardWithManyTopics opens the page on a store of 20,000 topics:
// the table shows the 20 most active of the last minute, busiest first,
// not every topic; a search by prefix lists the topics with it; a found
// topic can be followed.
func TestDashboardWithManyTopics(t *testing.T) {
	ctx := browser(t)
	a := newApp(t, httpapi.Config{MaxEvents: 10_000})
	for b := 0; b < 2; b++ {
		var events []string
		for k := 0; k < 10_000; k++ {
			events = append(events, ev(fmt.Sprintf("cold.%d.%04d", b, k), "1", ts))
		}
		a.publishOK(arr(events...))
	}
	var hot []string
	for k := 0; k < 30; k++ {
		// hot.00 gets 60 events, hot.01 58, …: a strict order.
		for i := 0; i < 60-2*k; i++ {
			hot = append(hot, ev(fmt.Sprintf("hot.%02d", k), fmt.Sprint(i), ts))
		}
	}
	a.publishOK(arr(hot...))
	if err := chromedp.Do(ctx, chromedp.Navigate(a.srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`tr.topic`))); err != nil {
		t.Fatalf("browser: %v", err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#topics tr.topic td:first-child")].map(td => td.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 20 || rows[0] != "hot.00" || rows[19] != "hot.19" {
		t.Fatalf("topic rows = %v, want hot.00 … hot.19", rows)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#search`), "cold.1.004")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => {
		const names = [...document.querySelectorAll("#topics tr.topic td:first-child")].map(td => td.textContent);
		return names.length === 10 && names.every(n => n.startsWith("cold.1.004")) && names[0] === "cold.1.0040";
	})()`)); err != nil {
		t.Fatalf("search by prefix never listed cold.1.0040 … cold.1.0049: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tr.topic[data-topic="cold.1.0043"]`))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("#recent").textContent.includes("cold.1.0043 #1")`)); err != nil {
		t.Fatalf("followed topic's events never showed: %v", err)
	}
}
