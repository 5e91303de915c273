package transfer

import (
	"testing"
	"time"
)

func TestCollectorRecognisesFeatureCodes(t *testing.T) {
	type key struct {
		d   string
		gap time.Duration // since the previous digit
	}
	ms := time.Millisecond
	cases := []struct {
		name string
		keys []key
		want []Feature // one per key
	}{
		{"blind", []key{{"*", 0}, {"1", 200 * ms}}, []Feature{0, FeatureBlind}},
		{"three party", []key{{"*", 0}, {"2", 200 * ms}}, []Feature{0, FeatureThreeParty}},
		{"complete", []key{{"*", 0}, {"3", 200 * ms}}, []Feature{0, FeatureComplete}},
		{"cancel", []key{{"*", 0}, {"0", 200 * ms}}, []Feature{0, FeatureCancel}},
		{"leading noise", []key{{"5", 0}, {"9", 100 * ms}, {"*", 100 * ms}, {"1", 100 * ms}}, []Feature{0, 0, 0, FeatureBlind}},
		{"star star one", []key{{"*", 0}, {"*", 100 * ms}, {"1", 100 * ms}}, []Feature{0, 0, FeatureBlind}},
		{"inter-digit timeout", []key{{"*", 0}, {"1", 2500 * ms}}, []Feature{0, 0}},
		{"exactly at the limit", []key{{"*", 0}, {"1", 2000 * ms}}, []Feature{0, FeatureBlind}},
		{"timeout then fresh code", []key{{"*", 0}, {"*", 3 * time.Second}, {"2", 100 * ms}}, []Feature{0, 0, FeatureThreeParty}},
		{"unknown code", []key{{"*", 0}, {"9", 100 * ms}}, []Feature{0, 0}},
		{"two codes in a row", []key{{"*", 0}, {"2", 100 * ms}, {"*", 100 * ms}, {"3", 100 * ms}}, []Feature{0, FeatureThreeParty, 0, FeatureComplete}},
		{"non-DTMF resets", []key{{"*", 0}, {"A", 100 * ms}, {"1", 100 * ms}}, []Feature{0, 0, 0}},
		{"multi-char input resets", []key{{"*", 0}, {"*1", 100 * ms}}, []Feature{0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCollector(DefaultConfig().Codes, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, k := range tc.keys {
				at = at.Add(k.gap)
				if got := c.Feed(k.d, at); got != tc.want[i] {
					t.Fatalf("key %d %q: got %s, want %s (pending %q)", i, k.d, got, tc.want[i], c.Pending())
				}
			}
		})
	}
}

func TestCollectorCustomCodes(t *testing.T) {
	c, err := NewCollector(FeatureCodes{Blind: "##1", ThreeParty: "##2", Complete: "#9", Cancel: "#0#0"}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	var got Feature
	for _, d := range "#0#0" {
		at = at.Add(10 * time.Millisecond)
		got = c.Feed(string(d), at)
	}
	if got != FeatureCancel {
		t.Fatalf("got %s", got)
	}
	if f := FeatureCancel.Input("1001"); f != (Cancel{By: ByDTMF}) {
		t.Fatalf("%#v", f)
	}
}
