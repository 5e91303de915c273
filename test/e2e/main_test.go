// Package e2e runs the real gateway against the lab PBX (Asterisk 22 in a
// chroot), real redis-server and real SIP calls from SIPp. The lab must be
// up: `make test` starts it; without it every test here fails.
package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/test/labtest"
)

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}

// stats asks a gateway's StatsService for one day (Asia/Shanghai).
func stats(t *testing.T, g *labtest.Gateway, from, to string) *hotlinev1.GetStatsResponse {
	t.Helper()
	st, err := getStats(g, from, to)
	if err != nil {
		t.Fatalf("GetStats: %v", err)
	}
	return st
}

// getStats is stats for use inside labtest.Eventually, where an error is retried.
func getStats(g *labtest.Gateway, from, to string) (*hotlinev1.GetStatsResponse, error) {
	conn, err := grpc.NewClient(g.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(labtest.AsSupervisor(context.Background()), 5*time.Second)
	defer cancel()
	return hotlinev1.NewStatsServiceClient(conn).GetStats(ctx, &hotlinev1.GetStatsRequest{From: from, To: to})
}

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return l
}()

func today() string { return time.Now().In(shanghai).Format(time.DateOnly) }
