// Package configs holds the example gateway configuration
// (gateway.example.yaml, which runs against the lab PBX as is) and the
// test that keeps it documenting every configuration key. It has no code
// of its own.
package configs
