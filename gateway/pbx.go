package gateway

import (
	"context"

	ariv5 "github.com/CyCoreSystems/ari/v5"

	"github.com/hotline12345/hotline-gw/ari"
)

// PBX is what the gateway asks of Asterisk. *ari.Client implements it; unit
// tests use a fake. Every method takes a context and returns errors that
// wrap ari.ErrNotFound when the channel or bridge is already gone.
type PBX interface {
	Answer(ctx context.Context, channelID string) error
	Hangup(ctx context.Context, channelID, reason string) error
	Originate(ctx context.Context, p ari.OriginateParams) error
	CreateBridge(ctx context.Context, bridgeID, bridgeType string) error
	AddChannel(ctx context.Context, bridgeID, channelID string) error
	// AddChannels adds several channels in one request.
	AddChannels(ctx context.Context, bridgeID string, channelIDs ...string) error
	RemoveChannel(ctx context.Context, bridgeID, channelID string) error
	DestroyBridge(ctx context.Context, bridgeID string) error
	StartMOH(ctx context.Context, channelID, class string) error
	StopMOH(ctx context.Context, channelID string) error
	Play(ctx context.Context, channelID, playbackID, mediaURI string) error
	StopPlayback(ctx context.Context, playbackID string) error
	RecordBridge(ctx context.Context, bridgeID, name, format string) error
	Channel(ctx context.Context, channelID string) (*ariv5.ChannelData, error)
	AppChannels(ctx context.Context) ([]string, error)
	ListChannels(ctx context.Context) ([]string, error)
	ListBridges(ctx context.Context) ([]string, error)
	BridgeChannels(ctx context.Context, bridgeID string) ([]string, error)
	GetVar(ctx context.Context, channelID, name string) (string, error)
	SetVar(ctx context.Context, channelID, name, value string) error
	Continue(ctx context.Context, channelID, dialplanContext, exten string, priority int) error
	Snoop(ctx context.Context, channelID string, p ari.SnoopParams) error
}

var _ PBX = (*ari.Client)(nil)
