package transfer

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/hotline12345/hotline-gw/gateway/store"
)

// WebhookOutbox keeps the final records the 110 webhook has not delivered
// yet, so that a gateway that stops (or restarts) before 110 acknowledged
// one sends it again when it starts:
//
//	{hl}:transfer:webhook:pending  hash  <transfer_id> = the POST body
//
// A record is written before its first attempt and removed when 110
// answered 2xx or a final 4xx. Every gateway resumes the whole hash at
// start, so a record may reach 110 twice; the Idempotency-Key makes that
// harmless.
type WebhookOutbox struct {
	rdb redis.UniversalClient
	key string
}

// NewWebhookOutbox returns the outbox on rdb.
func NewWebhookOutbox(rdb redis.UniversalClient, keys store.Keys) *WebhookOutbox {
	return &WebhookOutbox{rdb: rdb, key: keys.Key("transfer", "webhook", "pending")}
}

// Put keeps body for transfer id until Done.
func (o *WebhookOutbox) Put(ctx context.Context, id string, body []byte) error {
	if err := o.rdb.HSet(ctx, o.key, id, body).Err(); err != nil {
		return fmt.Errorf("webhook outbox: keep %s: %w", id, err)
	}
	return nil
}

// Done forgets transfer id.
func (o *WebhookOutbox) Done(ctx context.Context, id string) error {
	if err := o.rdb.HDel(ctx, o.key, id).Err(); err != nil {
		return fmt.Errorf("webhook outbox: done %s: %w", id, err)
	}
	return nil
}

// Pending returns every kept body by transfer ID.
func (o *WebhookOutbox) Pending(ctx context.Context) (map[string]string, error) {
	m, err := o.rdb.HGetAll(ctx, o.key).Result()
	if err != nil {
		return nil, fmt.Errorf("webhook outbox: list: %w", err)
	}
	return m, nil
}
