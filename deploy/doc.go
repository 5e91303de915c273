// Package deploy holds what runs hotline-gw as a service beside the code:
// the Grafana dashboard (grafana/), the Prometheus recording and alerting
// rules with their promtool unit tests (prometheus/), and the Debian
// package's files (debian/: nfpm configuration, systemd unit, the
// production /etc/hotline-gw/gateway.yaml, maintainer scripts). Its tests
// check them against the gateway's metrics; it has no code of its own.
package deploy
