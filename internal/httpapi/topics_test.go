package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/httpapi"
)

type topicsPage struct {
	Topics []struct {
		Topic      string `json:"topic"`
		Received   int64  `json:"received"`
		Duplicates int64  `json:"duplicates"`
		LastSeq    int64  `json:"last_seq"`
		Processed  int64  `json:"processed"`
	} `json:"topics"`
	Count int    `json:"count"`
	Next  string `json:"next"`
}

// TestManyTopics publishes 3,000 topics, some of long names: /stats keeps
// its size bounded and says its lists are truncated, GET /topics pages
// through every topic exactly once in name order, and GET /topics/{name}
// answers for one (404 for an unknown one).
func TestManyTopics(t *testing.T) {
	a := newApp(t, httpapi.Config{MaxEvents: 10_000})
	var want []string
	for b := 0; b < 3; b++ {
		var events []string
		for k := 0; k < 1000; k++ {
			name := fmt.Sprintf("tenant/%d/%04d", b, k)
			if k%10 == 0 {
				name += "." + strings.Repeat("x", 200)
			}
			want = append(want, name)
			events = append(events, ev(name, "1", ts))
			if k%3 == 0 {
				events = append(events, ev(name, "1", ts)) // a duplicate
			}
		}
		a.publishOK(arr(events...))
	}
	a.idle()
	slices.Sort(want)

	r := a.get("/stats")
	var st struct {
		statsBody
		TopicsTruncated   bool              `json:"topics_truncated"`
		PerTopic          []json.RawMessage `json:"per_topic"`
		PerTopicTruncated bool              `json:"per_topic_truncated"`
	}
	r.decode(t, &st)
	if len(r.body) > 64<<10 || st.TopicCount != 3000 || !st.TopicsTruncated || !st.PerTopicTruncated ||
		len(st.Topics) == 0 || len(st.Topics) > httpapi.StatsTopicNames || len(st.PerTopic) == 0 || len(st.PerTopic) > httpapi.StatsPerTopic ||
		!slices.Equal(st.Topics, want[:len(st.Topics)]) {
		t.Fatalf("/stats: %d bytes, topic_count %d, %d names (truncated %v), %d per topic (truncated %v)",
			len(r.body), st.TopicCount, len(st.Topics), st.TopicsTruncated, len(st.PerTopic), st.PerTopicTruncated)
	}

	var got []string
	after := ""
	for pages := 0; pages < 10; pages++ {
		var page topicsPage
		r := a.get("/topics?limit=700&after=" + url.QueryEscape(after))
		if r.status != 200 {
			t.Fatalf("/topics: %d %s", r.status, r.body)
		}
		r.decode(t, &page)
		if page.Count != len(page.Topics) || page.Count > 700 {
			t.Fatalf("count %d for %d topics", page.Count, len(page.Topics))
		}
		for _, tp := range page.Topics {
			got = append(got, tp.Topic)
			if tp.LastSeq != 1 || tp.Processed != 1 || tp.Received != 1+tp.Duplicates {
				t.Fatalf("topic %+v", tp)
			}
		}
		if after = page.Next; after == "" {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged %d topics, want all %d exactly once in name order", len(got), len(want))
	}

	var page topicsPage
	a.get("/topics?prefix="+url.QueryEscape("tenant/2/00")).decode(t, &page)
	if page.Count != 100 || page.Next != "" || page.Topics[0].Topic != "tenant/2/0000."+strings.Repeat("x", 200) {
		t.Fatalf("prefix tenant/2/00: %d topics, next %q", page.Count, page.Next)
	}
	var one struct {
		Topic      string `json:"topic"`
		Duplicates int64  `json:"duplicates"`
		LastSeq    int64  `json:"last_seq"`
	}
	if r := a.get("/topics/tenant/1/0003"); r.status != 200 {
		t.Fatalf("/topics/tenant/1/0003: %d %s", r.status, r.body)
	} else if r.decode(t, &one); one.Topic != "tenant/1/0003" || one.Duplicates != 1 || one.LastSeq != 1 {
		t.Fatalf("/topics/tenant/1/0003 = %+v", one)
	}
	for path, want := range map[string]string{
		"/topics/nope":                              "404 topic",
		"/topics/bad%20name":                        "400 topic",
		"/topics?limit=0":                           "400 limit",
		"/topics?limit=1001":                        "400 limit",
		"/topics?after=" + strings.Repeat("a", 300): "400 after",
	} {
		r := a.get(path)
		if got := fmt.Sprintf("%d %s", r.status, r.errorText(t)); !strings.HasPrefix(got, want) {
			t.Errorf("%s: %s, want %s…", path, got, want)
		}
	}
}

// TestStatsSizeWithLongestNames: topics of the longest names allowed, busy
// enough to fill active_topics, still give a /stats under 64 KiB.
func TestStatsSizeWithLongestNames(t *testing.T) {
	a := newApp(t, httpapi.Config{MaxEvents: 10_000})
	var events []string
	for k := 0; k < 300; k++ {
		name := fmt.Sprintf("%03d.", k) + strings.Repeat("n", eventagg.MaxTopicLen-4)
		events = append(events, ev(name, "1", ts), ev(name, "2", ts))
	}
	a.publishOK(arr(events...))
	r := a.get("/stats")
	var st struct {
		Active []json.RawMessage `json:"active_topics"`
	}
	r.decode(t, &st)
	t.Logf("/stats: %d bytes", len(r.body))
	if len(r.body) > 64<<10 || len(st.Active) != httpapi.StatsActive {
		t.Fatalf("/stats of %d bytes with %d active topics; want at most 64 KiB with %d", len(r.body), len(st.Active), httpapi.StatsActive)
	}
}
