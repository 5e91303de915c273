package ari

import "fmt"

// Event payloads shaped as Asterisk 22 sends them on the ARI websocket.

func stasisStartJSON(channelID string) string {
	return fmt.Sprintf(`{
  "type": "StasisStart",
  "timestamp": "2025-03-14T09:26:53.589+0800",
  "args": ["inbound", "12345"],
  "channel": {
    "id": %q,
    "name": "PJSIP/trunk-cmcc-00000a3f",
    "state": "Ring",
    "protocol_id": "3c2a9e8f-1b7d@10.20.0.5",
    "caller": {"name": "", "number": "13800138000"},
    "connected": {"name": "", "number": ""},
    "accountcode": "",
    "dialplan": {"context": "from-trunk", "exten": "12345", "priority": 3, "app_name": "Stasis", "app_data": "hotline,inbound,12345"},
    "creationtime": "2025-03-14T09:26:53.571+0800",
    "language": "zh",
    "channelvars": {"HOTLINE_TRUNK": "cmcc"}
  },
  "asterisk_id": "52:54:00:12:34:56",
  "application": "hotline"
}`, channelID)
}

func dtmfJSON(channelID, digit string, durationMs int) string {
	return fmt.Sprintf(`{"type":"ChannelDtmfReceived","timestamp":"2025-03-14T09:27:01.112+0800","digit":%q,"duration_ms":%d,`+
		`"channel":{"id":%q,"name":"PJSIP/trunk-cmcc-00000a3f","state":"Up","protocol_id":"3c2a9e8f-1b7d@10.20.0.5",`+
		`"caller":{"name":"","number":"13800138000"},"connected":{"name":"","number":""},"accountcode":"",`+
		`"dialplan":{"context":"from-trunk","exten":"12345","priority":3,"app_name":"Stasis","app_data":"hotline,inbound,12345"},`+
		`"creationtime":"2025-03-14T09:26:53.571+0800","language":"zh"},"asterisk_id":"52:54:00:12:34:56","application":"hotline"}`,
		digit, durationMs, channelID)
}

func hangupRequestJSON(channelID string) string {
	return fmt.Sprintf(`{"type":"ChannelHangupRequest","timestamp":"2025-03-14T09:28:00.001+0800","cause":16,`+
		`"channel":{"id":%q,"name":"PJSIP/trunk-cmcc-00000a3f","state":"Up","caller":{"name":"","number":"13800138000"},`+
		`"connected":{"name":"","number":""},"accountcode":"","dialplan":{"context":"from-trunk","exten":"12345","priority":3,`+
		`"app_name":"Stasis","app_data":"hotline"},"creationtime":"2025-03-14T09:26:53.571+0800","language":"zh"},`+
		`"asterisk_id":"52:54:00:12:34:56","application":"hotline"}`, channelID)
}

// Types unknown to ari/v5 v5.3.1.
const (
	applicationRegisteredJSON = `{"type":"ApplicationRegistered","timestamp":"2025-03-14T09:20:00.000+0800","application":"hotline","asterisk_id":"52:54:00:12:34:56"}`

	channelTransferJSON = `{"type":"ChannelTransfer","timestamp":"2025-03-14T09:30:12.345+0800","state":"channel_declined",` +
		`"refer_to":{"requested_destination":{"protocol_id":"x","destination":"1002","additional_protocol_params":[]},` +
		`"connected_channel":{"id":"1741915613.118","name":"PJSIP/agent1-00000a40","state":"Up"}},` +
		`"referred_by":{"source_channel":{"id":"1741915613.117","name":"PJSIP/trunk-cmcc-00000a3f","state":"Up"}},` +
		`"channel":{"id":"1741915613.117","name":"PJSIP/trunk-cmcc-00000a3f","state":"Up","caller":{"name":"","number":"13800138000"}},` +
		`"asterisk_id":"52:54:00:12:34:56","application":"hotline"}`

	restResponseJSON = `{"type":"RESTResponse","transaction_id":"4a2b","request_id":"77","status_code":200,"reason_phrase":"OK",` +
		`"uri":"channels/1741915613.117/answer","content_type":"application/json","message_body":"","asterisk_id":"52:54:00:12:34:56","application":"hotline"}`

	channelToneDetectedJSON = `{"type":"ChannelToneDetected","timestamp":"2025-03-14T09:31:00.000+0800",` +
		`"channel":{"id":"1741915613.117","name":"PJSIP/trunk-cmcc-00000a3f","state":"Up"},"asterisk_id":"52:54:00:12:34:56","application":"hotline"}`
)
