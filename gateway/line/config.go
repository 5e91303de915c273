package line

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hotline12345/hotline-gw/internal/conf"
)

// Config is one entry of the `lines:` section: a hotline number citizens dial.
type Config struct {
	Number string `yaml:"number"`
	Name   string `yaml:"name"`
	// Skill is the skill group whose agents answer this line.
	Skill string `yaml:"skill"`
	// MergedInto names the main line that answers this one (12333 → 12345);
	// empty for the main line itself.
	MergedInto string `yaml:"merged_into"`
	// Greeting is an ARI media URI played after answer, e.g. "sound:hello-world".
	Greeting string `yaml:"greeting"`
	// Record: answered calls on this line are recorded (质检), the
	// recording's name goes on the ticket.
	Record bool `yaml:"record"`
}

// Numbering is the `numbering:` section: how dialled numbers (DNIS) are
// normalised to a line number.
type Numbering struct {
	// StripPrefixes are removed, in order and repeatedly, from the front of
	// a dialled number before it is matched against the lines, e.g. "+86",
	// "0086", "86", "0739". A prefix is stripped only if something remains.
	StripPrefixes []string `yaml:"strip_prefixes"`
}

// Validate returns an error per bad field of the numbering section.
func (n Numbering) Validate() []error {
	var e conf.Errors
	for i, p := range n.StripPrefixes {
		if q := strings.TrimPrefix(p, "+"); q == "" || strings.Trim(q, "0123456789") != "" {
			e.Bad(fmt.Sprintf("numbering.strip_prefixes[%d]", i), "%q must be digits with an optional leading +", p)
		}
	}
	return e.List()
}

// Validate returns an error per bad field of the lines section, named by
// its YAML path.
func Validate(lines []Config) []error {
	var errs []error
	if len(lines) == 0 {
		return []error{errors.New("lines: at least one line is required")}
	}
	seen := map[string]int{}
	mains := 0
	for i, l := range lines {
		f := fmt.Sprintf("lines[%d]", i)
		switch {
		case l.Number == "":
			errs = append(errs, fmt.Errorf("%s.number: required", f))
		case strings.Trim(l.Number, "0123456789") != "" || len(l.Number) > 20:
			errs = append(errs, fmt.Errorf("%s.number: %q must be digits only (at most 20)", f, l.Number))
		}
		if j, dup := seen[l.Number]; dup && l.Number != "" {
			errs = append(errs, fmt.Errorf("%s.number: %q duplicates lines[%d]", f, l.Number, j))
		}
		seen[l.Number] = i
		if l.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: required", f))
		}
		if !conf.ValidSkill(l.Skill) {
			errs = append(errs, fmt.Errorf("%s.skill: %q must be 1-32 of a-z, 0-9, _ or -", f, l.Skill))
		}
		if l.MergedInto == "" {
			mains++
		}
		if l.Greeting != "" && !conf.MediaURI(l.Greeting) {
			errs = append(errs, fmt.Errorf("%s.greeting: %q must be an ARI media URI (sound:… or recording:…)", f, l.Greeting))
		}
	}
	for i, l := range lines {
		if l.MergedInto == "" {
			continue
		}
		j, ok := seen[l.MergedInto]
		switch {
		case l.MergedInto == l.Number:
			errs = append(errs, fmt.Errorf("lines[%d].merged_into: a line cannot merge into itself", i))
		case !ok:
			errs = append(errs, fmt.Errorf("lines[%d].merged_into: %q is not a configured line", i, l.MergedInto))
		case lines[j].MergedInto != "":
			errs = append(errs, fmt.Errorf("lines[%d].merged_into: %q is itself merged; merge into a main line", i, l.MergedInto))
		}
	}
	if mains == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("lines: no main line (every line has merged_into)"))
	}
	return errs
}
