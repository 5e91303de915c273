package config

// From110 configures calls transferred from the 110 platform to 12345. The
// lab dialplan marks them with the Stasis argument "from110"; a production
// trunk can instead be recognised by the dialled number.
type From110 struct {
	// DIDs are dialled numbers (after normalisation) that mean "from 110",
	// for trunks that cannot set the Stasis argument.
	DIDs []string `yaml:"dids"`
}
