package transfer

import (
	"strings"
	"testing"
	"time"

	"github.com/hotline12345/hotline-gw/internal/conf"
)

func TestDefaultConfigIsValid(t *testing.T) {
	c := DefaultConfig()
	if err := ValidateConfig(&c); err != nil {
		t.Fatal(err)
	}
	if c.Target != "PJSIP/police110" || c.Codes != (FeatureCodes{Blind: "*1", ThreeParty: "*2", Complete: "*3", Cancel: "*0"}) || c.NoteMaxRunes != 500 {
		t.Fatalf("%+v", c)
	}
}

func TestConfigValidationNamesTheField(t *testing.T) {
	cases := []struct {
		name  string
		mod   func(*Config)
		field string
	}{
		{"parallel dial", func(c *Config) { c.Target = "PJSIP/police110&PJSIP/evil" }, "transfer.target"},
		{"dial options", func(c *Config) { c.Target = "PJSIP/police110,30,tT" }, "transfer.target"},
		{"extra slash", func(c *Config) { c.Target = "PJSIP/police/110" }, "transfer.target"},
		{"at not allowed", func(c *Config) { c.Target = "PJSIP/110@trunk" }, "transfer.target"},
		{"no tech", func(c *Config) { c.Target = "police110" }, "transfer.target"},
		{"function", func(c *Config) { c.Target = "PJSIP/${CALLERID(num)}" }, "transfer.target"},
		{"newline", func(c *Config) { c.Target = "PJSIP/police110\n" }, "transfer.target"},
		{"caller id policy", func(c *Config) { c.CallerID = "anonymous" }, "transfer.caller_id"},
		{"hotline number", func(c *Config) { c.HotlineNumber = "12345<script>" }, "transfer.hotline_number"},
		{"prompt", func(c *Config) { c.FailPrompt = "http://x/y.wav" }, "transfer.fail_prompt"},
		{"prompt traversal", func(c *Config) { c.FailPrompt = "sound:../../etc/passwd" }, "transfer.fail_prompt"},
		{"header", func(c *Config) { c.TransferHeader = "Via" }, "transfer.transfer_header"},
		{"header injection", func(c *Config) { c.TransferHeader = "X-A\r\nVia" }, "transfer.transfer_header"},
		{"ring timeout", func(c *Config) { c.RingTimeout = conf.Duration(-time.Second) }, "transfer.ring_timeout"},
		{"dial timeout huge", func(c *Config) { c.DialTimeout = conf.Duration(time.Hour) }, "transfer.dial_timeout"},
		{"code too short", func(c *Config) { c.Codes.Blind = "*" }, "transfer.dtmf_codes: blind"},
		{"code too long", func(c *Config) { c.Codes.Cancel = "*0000" }, "transfer.dtmf_codes: cancel"},
		{"code not dtmf", func(c *Config) { c.Codes.Complete = "*A" }, "transfer.dtmf_codes: complete"},
		{"duplicate codes", func(c *Config) { c.Codes.Cancel = "*1" }, "transfer.dtmf_codes: blind and cancel"},
		{"prefix codes", func(c *Config) { c.Codes.ThreeParty = "*12" }, "transfer.dtmf_codes: blind \"*1\" is a prefix"},
		{"note limit", func(c *Config) { c.NoteMaxRunes = 100000 }, "transfer.note_max_runes"},
		{"app", func(c *Config) { c.App = "hotline gw" }, "transfer.app"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			err := ValidateConfig(&c)
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v, want it to name %q", err, tc.field)
			}
			if _, err := New(c, Deps{PBX: newFakePBX("b")}); err == nil {
				t.Fatal("New accepted the invalid config")
			}
		})
	}
}

func TestValidDialStrings(t *testing.T) {
	for _, s := range []string{"PJSIP/police110", "SIP/110", "IAX2/police-110", "PJSIP/+8610110", "PJSIP/police_110.a"} {
		if err := ValidateDialString(s, false); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"PJSIP/110@police-trunk", "Local/110@to-police"} {
		if err := ValidateDialString(s, true); err != nil {
			t.Errorf("%q with @ allowed: %v", s, err)
		}
		if err := ValidateDialString(s, false); err == nil {
			t.Errorf("%q accepted without allowing @", s)
		}
	}
	for _, s := range []string{"", "PJSIP/", "/110", "1PJSIP/110", "PJSIP/110@", "PJSIP/@trunk", "PJSIP/1@2@3", "PJSIP/a b", "PJSIP/a:b", "PJSIP/a(b)", "PJSIP/a'b", "PJ-SIP/110", strings.Repeat("a", 130) + "/b"} {
		if err := ValidateDialString(s, true); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestValidateNote(t *testing.T) {
	got, err := ValidateNote("  报警人称有人持刀 & 110/120 联动, 地址: 某路@3号  ", 500)
	if err != nil || got != "报警人称有人持刀 & 110/120 联动, 地址: 某路@3号" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := ValidateNote("\xff\xfe", 500); err == nil {
		t.Fatal("invalid UTF-8 accepted")
	}
}
