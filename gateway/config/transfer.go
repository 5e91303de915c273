package config

// Transfer configures one-key transfers (package transfer validates it). Embed it in the gateway configuration
// (e.g. under `transfer:`); Validate's errors name fields by their YAML path
// below that key, prefixed with "transfer.".
type Transfer struct {
	// Target is the dial string of the 110 platform, e.g. "PJSIP/police110"
	// or, with TargetAllowAt, "PJSIP/110@police-trunk". It is the only
	// endpoint the transfer ever dials: nothing from a request reaches it.
	Target string `yaml:"target"`
	// TargetAllowAt permits one "@" in Target's resource (exten@endpoint).
	TargetAllowAt bool `yaml:"target_allow_at"`
	// CallerID is "caller" or "hotline".
	CallerID string `yaml:"caller_id"`
	// HotlineNumber is presented with CallerID "hotline", and as the
	// fallback when the caller's number is withheld or not a plain number.
	HotlineNumber string `yaml:"hotline_number"`
	// App is the Stasis application the 110 leg enters on answer; empty
	// means the ARI client's application ("hotline-gw").
	App string `yaml:"app"`
	// MOHClass is the music-on-hold class played to the caller while 110 is
	// dialled; empty means the channel's default.
	MOHClass string `yaml:"moh_class"`
	// FailPrompt is played to the agent when 110 is busy, does not answer or
	// fails (the caller is back with the agent).
	FailPrompt string `yaml:"fail_prompt"`
	// TransferHeader, when set and Target is a PJSIP endpoint, adds a SIP
	// header carrying the transfer ID to the INVITE to 110, so the 110
	// platform can fetch the case data (the record). Empty: no header.
	TransferHeader string `yaml:"transfer_header"`

	// RequestTimeout bounds the Requested state (the originate request).
	RequestTimeout Duration `yaml:"request_timeout"`
	// DialTimeout bounds the Dialing state: 110 must ring (SIP 180) by then.
	DialTimeout Duration `yaml:"dial_timeout"`
	// RingTimeout bounds the Ringing state: 110 must answer by then.
	RingTimeout Duration `yaml:"ring_timeout"`
	// ThreePartyMax bounds the ThreeParty state; when it expires the agent
	// leaves (as with Complete) and the caller stays with 110.
	ThreePartyMax Duration `yaml:"three_party_max"`

	// Codes are the DTMF feature codes the agent presses on the phone.
	Codes FeatureCodes `yaml:"dtmf_codes"`
	// InterDigit is the longest pause between the digits of a feature code.
	InterDigit Duration `yaml:"dtmf_inter_digit"`
	// NoteMaxRunes bounds the length of a transfer note.
	NoteMaxRunes int `yaml:"note_max_runes"`
	// PoliceLink is the 110 platform's PoliceLink gRPC address; when set,
	// every change of a transfer record is pushed to it.
	PoliceLink      string `yaml:"police_link"`
	PoliceLinkToken string `yaml:"police_link_token"`
}

// FeatureCodes are the DTMF sequences of the transfer features. Each is 2-4
// of 0-9 * #, all distinct and none a prefix of another.
type FeatureCodes struct {
	Blind      string `yaml:"blind"`
	ThreeParty string `yaml:"three_party"`
	Complete   string `yaml:"complete"`
	Cancel     string `yaml:"cancel"`
}

// From110 configures calls transferred from the 110 platform to 12345. The
// lab dialplan marks them with the Stasis argument "from110"; a production
// trunk can instead be recognised by the dialled number.
type From110 struct {
	// DIDs are dialled numbers (after normalisation) that mean "from 110",
	// for trunks that cannot set the Stasis argument.
	DIDs []string `yaml:"dids"`
}
