package acd

import (
	"fmt"
	"strings"
	"time"

	"github.com/hotline12345/hotline-gw/internal/conf"
)

// Config is the `acd:` section: routing calls to agents.
type Config struct {
	// AgentEndpoint is the dial string of an agent's phone; "{ext}" is
	// replaced by the extension (digits only, validated).
	AgentEndpoint string `yaml:"agent_endpoint"`
	// RingTimeout is how long an agent's phone rings before the call goes to
	// the next agent (and the agent is paused as "missed_call").
	RingTimeout conf.Duration `yaml:"ring_timeout"`
	// PollInterval is how often waiting calls look for a ready agent besides
	// the notifications other instances publish.
	PollInterval conf.Duration `yaml:"poll_interval"`
	// RequireDesktop: offer calls only to agents whose desktop stream is
	// open, so that every call arrives with its screen pop.
	RequireDesktop bool `yaml:"require_desktop"`
	// ScreenPopLead delays ringing the agent's phone after the screen pop
	// reached a desktop stream, so a desk in a browser (HTTP, SSE) shows
	// the pop before the phone rings; 0 rings at once.
	ScreenPopLead conf.Duration `yaml:"screen_pop_lead"`
	// MOHClass is the music-on-hold class for waiting callers.
	MOHClass string `yaml:"moh_class"`
	// SweepInterval and SweepMinAge: every interval, agents left ringing or
	// on a call that no longer exists (a gateway crashed) for longer than
	// min age are freed, so no agent stays busy.
	SweepInterval conf.Duration `yaml:"sweep_interval"`
	SweepMinAge   conf.Duration `yaml:"sweep_min_age"`
	// Groups set per-skill-group queue limits and overflow.
	Groups []Group `yaml:"groups"`
	// Agents are the seats allowed to log in, with their desktop tokens.
	Agents []Seat `yaml:"agents"`
}

// Group is a skill group's queue policy.
type Group struct {
	Skill string `yaml:"skill"`
	// QueueTimeout is the longest a caller waits before the overflow action.
	QueueTimeout conf.Duration `yaml:"queue_timeout"`
	// Overflow is what happens then: "group" (move to OverflowGroup, keeping
	// the caller's place by entry time), "message" (play OverflowMessage, then
	// hang up) or "hangup".
	Overflow        string `yaml:"overflow"`
	OverflowGroup   string `yaml:"overflow_group"`
	OverflowMessage string `yaml:"overflow_message"`
	// OverflowUnstaffed runs the overflow at once when no agent with this
	// skill is logged in at all, instead of after the queue timeout.
	OverflowUnstaffed bool `yaml:"overflow_unstaffed"`
	// WrapUpMax caps the after-call work (wrap-up) an agent of this group
	// may ask for at login; 0: no cap below acd's one hour.
	WrapUpMax conf.Duration `yaml:"wrap_up_max"`
	// Announce tells waiting callers their position and expected wait.
	Announce Announce `yaml:"announce"`
}

// Announce is a group's queue announcements and its call-back key.
type Announce struct {
	// Every is the interval of the announcement (0: none); the first one
	// comes Every after the caller joins the queue.
	Every conf.Duration `yaml:"every"`
	// Position and Wait are the media played in order; "{position}" and
	// "{minutes}" in them are replaced by the caller's place in the queue
	// and the expected wait in whole minutes (from the group's recent
	// answer times; the Wait part is left out while none is known), e.g.
	// [sound:queue-thereare, "digits:{position}", sound:queue-callswaiting].
	Position []string `yaml:"position"`
	Wait     []string `yaml:"wait"`
	// CallbackKey, when set, is the digit a waiting caller presses to be
	// called back instead of waiting: a call-back task is created, Goodbye
	// played and the call ended (counted callback_requested, not abandoned).
	CallbackKey string `yaml:"callback_key"`
	// CallbackOffer is played after each announcement while CallbackKey is
	// set ("press 1 to be called back"); optional.
	CallbackOffer string `yaml:"callback_offer"`
	Goodbye       string `yaml:"goodbye"`
}

// Seat is a seat allowed to log in: its extension and the token its desktop presents.
type Seat struct {
	Extension string `yaml:"extension"`
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
}

// DefaultConfig is the section's defaults.
func DefaultConfig() Config {
	return Config{
		AgentEndpoint: "PJSIP/agent{ext}",
		RingTimeout:   conf.Duration(15 * time.Second),
		PollInterval:  conf.Duration(500 * time.Millisecond),
		MOHClass:      "default",
		SweepInterval: conf.Duration(2 * time.Second),
		SweepMinAge:   conf.Duration(time.Minute),
	}
}

// ResolveSecrets reads each agent's token_file.
func (c *Config) ResolveSecrets() error {
	for i := range c.Agents {
		a := &c.Agents[i]
		if err := conf.ReadSecret(&a.Token, a.TokenFile, fmt.Sprintf("acd.agents[%d].token_file", i)); err != nil {
			return err
		}
	}
	return nil
}

// Validate returns an error per bad field, named by its YAML path; skills
// are the lines' skills (groups refer to them).
func (c *Config) Validate(skills map[string]bool) []error {
	var e conf.Errors
	bad := e.Bad
	a := c
	if strings.Count(a.AgentEndpoint, "{ext}") != 1 || !strings.Contains(a.AgentEndpoint, "/") ||
		strings.ContainsAny(strings.ReplaceAll(a.AgentEndpoint, "{ext}", ""), "&,()\n\r\t {}") {
		bad("acd.agent_endpoint", "%q must be a dial string like PJSIP/agent{ext} with {ext} once and no & , ( ) or spaces", a.AgentEndpoint)
	}
	if a.ScreenPopLead < 0 || a.ScreenPopLead > conf.Duration(2*time.Second) {
		bad("acd.screen_pop_lead", "%s must be between 0 and 2s", a.ScreenPopLead.D())
	}
	if a.RingTimeout < conf.Duration(time.Second) || a.RingTimeout > conf.Duration(5*time.Minute) {
		bad("acd.ring_timeout", "%s must be between 1s and 5m", a.RingTimeout.D())
	}
	if a.PollInterval < conf.Duration(50*time.Millisecond) || a.PollInterval > conf.Duration(10*time.Second) {
		bad("acd.poll_interval", "%s must be between 50ms and 10s", a.PollInterval.D())
	}
	if a.SweepInterval < conf.Duration(100*time.Millisecond) || a.SweepInterval > conf.Duration(time.Minute) {
		bad("acd.sweep_interval", "%s must be between 100ms and 1m", a.SweepInterval.D())
	}
	if a.SweepMinAge < conf.Duration(time.Second) {
		bad("acd.sweep_min_age", "must be at least 1s")
	}
	if a.MOHClass == "" || strings.ContainsAny(a.MOHClass, "/&,\n ") {
		bad("acd.moh_class", "%q must be a plain class name", a.MOHClass)
	}
	seen := map[string]int{}
	for i, g := range a.Groups {
		f := fmt.Sprintf("acd.groups[%d]", i)
		if !skills[g.Skill] {
			bad(f+".skill", "%q is no line's skill", g.Skill)
		}
		if j, dup := seen[g.Skill]; dup {
			bad(f+".skill", "%q duplicates acd.groups[%d]", g.Skill, j)
		}
		seen[g.Skill] = i
		if g.QueueTimeout < 0 {
			bad(f+".queue_timeout", "must not be negative")
		}
		e.Add(g.Announce.validate(f + ".announce")...)
		if g.WrapUpMax < 0 || g.WrapUpMax > conf.Duration(MaxWrapUp) {
			bad(f+".wrap_up_max", "%s must be between 0 and 1h", g.WrapUpMax.D())
		}
		switch g.Overflow {
		case "", "hangup":
		case "group":
			if !skills[g.OverflowGroup] || g.OverflowGroup == g.Skill {
				bad(f+".overflow_group", "%q must be another line's skill", g.OverflowGroup)
			}
		case "message":
			if !conf.MediaURI(g.OverflowMessage) {
				bad(f+".overflow_message", "%q must be an ARI media URI (sound:…)", g.OverflowMessage)
			}
		default:
			bad(f+".overflow", "%q is not one of group, message, hangup", g.Overflow)
		}
	}
	exts := map[string]int{}
	for i, ag := range a.Agents {
		f := fmt.Sprintf("acd.agents[%d]", i)
		if len(ag.Extension) < 2 || len(ag.Extension) > 8 || strings.Trim(ag.Extension, "0123456789") != "" {
			bad(f+".extension", "%q must be 2-8 digits", ag.Extension)
		}
		if j, dup := exts[ag.Extension]; dup {
			bad(f+".extension", "%q duplicates acd.agents[%d]", ag.Extension, j)
		}
		exts[ag.Extension] = i
		if len(ag.Token) < 16 || strings.ContainsAny(ag.Token, " \t\r\n") {
			bad(f+".token", "must be at least 16 characters without spaces (or token_file)")
		}
	}
	return e.List()
}

// GroupFor returns the queue policy of skill (zero policy when unset).
func (a Config) GroupFor(skill string) Group {
	for _, g := range a.Groups {
		if g.Skill == skill {
			return g
		}
	}
	return Group{Skill: skill}
}

func (a Announce) validate(f string) []error {
	var e conf.Errors
	if a.Every == 0 && a.CallbackKey == "" {
		return nil
	}
	if a.Every != 0 && (a.Every < conf.Duration(time.Second) || a.Every > conf.Duration(10*time.Minute)) {
		e.Bad(f+".every", "%s must be between 1s and 10m (or 0: no announcement)", a.Every.D())
	}
	if a.Every != 0 && len(a.Position) == 0 {
		e.Bad(f+".position", "at least one prompt is required when every is set")
	}
	for field, list := range map[string][]string{"position": a.Position, "wait": a.Wait} {
		for i, m := range list {
			if !conf.PlayURI(strings.NewReplacer("{position}", "1", "{minutes}", "1").Replace(m)) {
				e.Bad(fmt.Sprintf("%s.%s[%d]", f, field, i), "%q must be an ARI media URI (sound:…, digits:…)", m)
			}
		}
	}
	if a.CallbackKey != "" {
		if len(a.CallbackKey) != 1 || !strings.Contains("0123456789*#", a.CallbackKey) {
			e.Bad(f+".callback_key", "%q is not one DTMF digit", a.CallbackKey)
		}
		if !conf.MediaURI(a.Goodbye) {
			e.Bad(f+".goodbye", "%q must be an ARI media URI (sound:…) when callback_key is set", a.Goodbye)
		}
		if a.CallbackOffer != "" && !conf.MediaURI(a.CallbackOffer) {
			e.Bad(f+".callback_offer", "%q must be an ARI media URI (sound:…)", a.CallbackOffer)
		}
	}
	return e.List()
}

// WrapUpCaps returns the groups' wrap-up caps (acd.groups[].wrap_up_max)
// by skill, for Options.WrapUpMax.
func (a Config) WrapUpCaps() map[string]time.Duration {
	caps := map[string]time.Duration{}
	for _, g := range a.Groups {
		if g.WrapUpMax > 0 {
			caps[g.Skill] = g.WrapUpMax.D()
		}
	}
	return caps
}
